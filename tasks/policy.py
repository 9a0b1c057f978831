"""The one retry policy every task uses: retry TransientError only, exponential backoff with jitter."""

from __future__ import annotations

from typing import Any

from onboarding.errors import TransientError
from onboarding.settings import get_settings


def retry_only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for Prefect: permanent errors (bad input, lockdown, 404) are not retried."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


def backoff_delays() -> list[float]:
    settings = get_settings()
    return [
        min(settings.retry_base_delay_s * 2**i, settings.retry_max_delay_s)
        for i in range(settings.task_retries)
    ]


def retry_options() -> dict[str, Any]:
    return {
        "retries": get_settings().task_retries,
        "retry_delay_seconds": backoff_delays(),
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_only_transient,
    }
