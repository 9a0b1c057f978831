"""Waiting without sleeping blindly: poll with bounded exponential backoff and jitter until the service says yes.

Every wait in the product goes through ``poll_until`` so one place decides how patient and how polite we are.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from .deadline import cut_short, remaining
from .errors import AuthorizationPendingError, PermanentError, TransientError

T = TypeVar("T")


def poll_until(
    fn: Callable[[], T | None],
    *,
    timeout_s: float,
    initial_delay_s: float,
    max_delay_s: float,
    what: str,
    retry_on: tuple[type[TransientError], ...] = (TransientError,),
) -> tuple[T, float]:
    """Call ``fn`` until it returns something other than None; returns (value, seconds waited).

    Exceptions in ``retry_on`` are retried (honouring their ``retry_after_s``); when the time runs out the last
    such exception is re-raised, or a TransientError saying ``what`` was not reached. Inside a step the wait also
    ends at the step's deadline (onboarding/deadline.py), whichever comes first.
    """
    timeout_s = remaining(timeout_s)
    started = time.monotonic()
    delay = max(initial_delay_s, 0.001)
    while True:
        suggested = 0.0
        try:
            value = fn()
        except retry_on as exc:
            last: TransientError | None = exc
            suggested = exc.retry_after_s or 0.0
        else:
            if value is not None:
                return value, time.monotonic() - started
            last = None
        left = timeout_s - (time.monotonic() - started)
        if left <= 0:
            if last is not None:
                raise last
            raise TransientError(
                f"{what}: not reached within {timeout_s:g} s",
                hint="the service has not finished yet: re-run later (a re-run resumes where this one stopped); "
                "if it never finishes, check the resource's state in the portal or with az",
            )
        # Backoff, but never longer than a tenth of the time waited so far: the moment the service says yes
        # (a deployment ends, a role assignment propagates) is overshot by at most ~10 % of the wait, for about 30
        # reads over Azure's 10 minutes of a deployment.
        waited = time.monotonic() - started
        wait = max(suggested, min(delay, max(initial_delay_s, waited / 10)) * random.uniform(0.8, 1.2))
        time.sleep(min(wait, left))
        delay = min(delay * 2, max_delay_s)


def retry_propagation(
    fn: Callable[[], T], *, budget_s: float, initial_delay_s: float, max_delay_s: float, what: str, hint: str
) -> tuple[T, float]:
    """Run ``fn`` until role propagation lets it through; past ``budget_s`` the 403 becomes a PermanentError.

    When the step's deadline ends the wait before ``budget_s`` has passed, the 403 stays transient: propagation was
    not given its full time, so the next run may still see it through."""
    cut = cut_short(budget_s)

    def attempt() -> tuple[T] | None:
        return (fn(),)

    try:
        (value,), waited = poll_until(
            attempt,
            timeout_s=budget_s,
            initial_delay_s=initial_delay_s,
            max_delay_s=max_delay_s,
            what=what,
            retry_on=(AuthorizationPendingError,),
        )
    except AuthorizationPendingError as exc:
        if cut:
            raise
        raise PermanentError(
            f"{exc.detail} (still refused after the {budget_s:g} s propagation budget)",
            customer=exc.customer,
            step=exc.step,
            code=exc.code,
            status=exc.status,
            hint=hint,
            correlation_id=exc.correlation_id,
        ) from None
    return value, waited
