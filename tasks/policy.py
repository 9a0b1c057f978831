"""The one retry policy every task uses: retry TransientError only, exponential backoff with jitter."""

from __future__ import annotations

from typing import Any

from onboarding.errors import TransientError
from onboarding.settings import Settings, get_settings


def retry_only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for Prefect: permanent errors (bad input, lockdown, 404) are not retried."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


def backoff_delays(settings: Settings | None = None) -> list[float]:
    """Doubling delays from ``retry_base_delay_s``, each at most ``retry_max_delay_s``, at most ``task_retries`` of
    them, and only as many as fit together in ``retry_budget_s``."""
    settings = settings or get_settings()
    delays: list[float] = []
    for attempt in range(settings.task_retries):
        delay = min(settings.retry_base_delay_s * 2**attempt, settings.retry_max_delay_s)
        if sum(delays) + delay > settings.retry_budget_s:
            break
        delays.append(delay)
    return delays


def retry_options(settings: Settings | None = None) -> dict[str, Any]:
    """The Prefect task options of the policy (a task without retries gets no delays)."""
    settings = settings or get_settings()
    delays = backoff_delays(settings)
    return {
        "retries": len(delays),
        "retry_delay_seconds": delays or 0,
        "retry_jitter_factor": settings.retry_jitter_factor,
        "retry_condition_fn": retry_only_transient,
    }
