"""Every task runs its work under the product's one retry policy (onboarding/retry.py), logging to the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from prefect import get_run_logger

from onboarding.retry import LoggedAttempts, RetryPolicy, run_with_retries
from onboarding.settings import get_settings

T = TypeVar("T")


def under_policy(fn: Callable[[], T], *, step: str, customer: str) -> T:
    """``fn()`` under the retry policy of the settings in force when the task runs (not when it was imported);
    each retry and unexpected error is a line in the task run's log."""
    return run_with_retries(
        fn,
        step=step,
        customer=customer,
        policy=RetryPolicy.from_settings(get_settings()),
        attempts=LoggedAttempts(get_run_logger()),  # type: ignore[arg-type]
    )
