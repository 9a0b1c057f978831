"""The one owner of retries: a step runs under ``run_with_retries``, in a Prefect task or as a plain call.

Who retries what:
- The Azure SDK retries one HTTP request (connection errors, 429/5xx with Retry-After) a few times
  (``sdk_retry_total``), bounded by ``sdk_call_timeout_s``; the Kubernetes client does not retry.
- Inside a step, waiting for something the service will do (a deployment ending, a role propagating, the probe
  pod finishing) is polling, not retrying (onboarding/polling.py); every such wait ends at the step's deadline.
- ``run_with_retries`` retries a whole step (steps are reconciles: a retry resumes) when it raises a
  ``TransientError``, after the service's Retry-After or a doubling, jittered delay; a ``PermanentError`` stops at
  once; any other exception is an ``UnexpectedError``: logged with its traceback, not retried.
- ``retry_budget_s`` bounds the step's total time (attempts, waits and delays): no attempt starts and no wait
  lasts past it, so a step ends within the budget plus one SDK call (``sdk_call_timeout_s``).
Prefect task retries are not used: they would multiply with these, could not honour Retry-After, and Prefect's
own task timeout cannot interrupt a task running in a worker thread (it says so when one is set).
"""

from __future__ import annotations

import itertools
import logging
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .deadline import step_deadline
from .errors import OnboardingError, TransientError, UnexpectedError
from .redact import redact
from .settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    budget_s: float
    retries: int
    base_delay_s: float
    max_delay_s: float
    jitter: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            budget_s=settings.retry_budget_s,
            retries=settings.step_retries,
            base_delay_s=settings.retry_base_delay_s,
            max_delay_s=settings.retry_max_delay_s,
            jitter=settings.retry_jitter_factor,
        )

    def delay(self, error: TransientError, attempt: int, rng: random.Random) -> float:
        """The pause after failed attempt number ``attempt`` (1, 2, ...): the service's Retry-After when it gave
        one, else a doubling delay from ``base_delay_s`` capped at ``max_delay_s``, spread by the jitter so that
        customers throttled together do not retry together."""
        backoff = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        spread = backoff * rng.uniform(max(0.0, 1 - self.jitter), 1 + self.jitter)
        return max(error.retry_after_s or 0.0, spread)


class Attempts(Protocol):
    """Hears what the runner does (logs it, counts it, shows it)."""

    def started(self, step: str, attempt: int) -> None: ...

    def retrying(self, step: str, attempt: int, error: TransientError, delay_s: float) -> None: ...

    def unexpected(self, step: str, error: Exception) -> None: ...


class LoggedAttempts:
    """Attempts told to a logger: a retry is a warning (what failed, when the next try is), a first attempt is
    silent, an unexpected exception is an error with its (redacted) traceback."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
        self.logger = logger

    def started(self, step: str, attempt: int) -> None:
        if attempt > 1:
            self.logger.info("%s: attempt %d", step, attempt)

    def retrying(self, step: str, attempt: int, error: TransientError, delay_s: float) -> None:
        self.logger.warning("%s: attempt %d failed, retrying in %.1f s: %s", step, attempt, delay_s, error)

    def unexpected(self, step: str, error: Exception) -> None:
        trace = "".join(traceback.format_exception(error))
        self.logger.error("%s: unexpected error, not retried:\n%s", step, redact(trace))


def run_with_retries(
    fn: Callable[[], T],
    *,
    step: str,
    customer: str,
    policy: RetryPolicy,
    attempts: Attempts,
    rng: random.Random | None = None,
) -> T:
    """``fn()`` until it succeeds, under ``policy``; raises the last error when it may not be tried again."""
    rng = rng or random.Random()
    started = time.monotonic()
    with step_deadline(policy.budget_s):
        for attempt in itertools.count(1):
            attempts.started(step, attempt)
            try:
                return fn()
            except TransientError as exc:
                elapsed = time.monotonic() - started
                delay = policy.delay(exc, attempt, rng)
                if attempt > policy.retries or elapsed + delay >= policy.budget_s:
                    exc.explain(
                        f"gave up after {attempt} attempt{'s' if attempt > 1 else ''} in {elapsed:.0f} s: "
                        f"a step may retry {policy.retries} times within {policy.budget_s:g} s"
                    )
                    raise
                attempts.retrying(step, attempt, exc, delay)
                time.sleep(delay)
            except OnboardingError:
                raise
            except Exception as exc:
                attempts.unexpected(step, exc)
                raise UnexpectedError.of(exc, customer=customer, step=step) from None
    raise AssertionError("unreachable")
