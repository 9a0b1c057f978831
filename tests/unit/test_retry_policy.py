"""The one retry owner (onboarding/retry.py): what it retries, how long it waits, and the bound on a step's time."""

from __future__ import annotations

import logging
import random
import time

import pytest

from onboarding.errors import AuthorizationPendingError, PermanentError, TransientError, UnexpectedError
from onboarding.polling import poll_until, retry_propagation
from onboarding.retry import LoggedAttempts, RetryPolicy, run_with_retries
from onboarding.settings import Settings


def _policy(**changes: float) -> RetryPolicy:
    base = {"budget_s": 30.0, "retries": 8, "base_delay_s": 0.01, "max_delay_s": 0.04, "jitter": 0.0}
    return RetryPolicy(**{**base, **changes})  # type: ignore[arg-type]


def _run(fn: object, policy: RetryPolicy, caplog: pytest.LogCaptureFixture | None = None) -> object:
    return run_with_retries(
        fn,  # type: ignore[arg-type]
        step="a-step",
        customer="contoso",
        policy=policy,
        attempts=LoggedAttempts(logging.getLogger("onboarding.test")),
        rng=random.Random(1),
    )


def test_delays_double_up_to_the_largest_and_honour_retry_after() -> None:
    policy = RetryPolicy(budget_s=900, retries=8, base_delay_s=2, max_delay_s=20, jitter=0)
    rng = random.Random(1)
    assert [policy.delay(TransientError("x"), n, rng) for n in range(1, 7)] == [2, 4, 8, 16, 20, 20]
    assert policy.delay(TransientError("x", retry_after_s=45), 1, rng) == 45


def test_policy_comes_from_settings() -> None:
    policy = RetryPolicy.from_settings(Settings(step_retries=3, retry_budget_s=120, retry_jitter_factor=0.2))
    assert (policy.retries, policy.budget_s, policy.jitter) == (3, 120, 0.2)


def test_transient_errors_are_retried_until_the_step_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("busy", customer="contoso", step="a-step")
        return "done"

    with caplog.at_level(logging.INFO, logger="onboarding.test"):
        assert _run(flaky, _policy()) == "done"
    assert len(calls) == 3
    assert sum("retrying in" in r.getMessage() for r in caplog.records) == 2


def test_permanent_errors_stop_at_the_first_attempt() -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise PermanentError("no", customer="contoso")

    with pytest.raises(PermanentError):
        _run(refused, _policy())
    assert len(calls) == 1


def test_retries_stop_at_the_count_and_say_so() -> None:
    calls: list[int] = []

    def busy() -> None:
        calls.append(1)
        raise TransientError("busy", customer="contoso", step="a-step")

    with pytest.raises(TransientError, match=r"gave up after 3 attempts .* may retry 2 times within 30 s"):
        _run(busy, _policy(retries=2))
    assert len(calls) == 3


def test_a_retry_whose_delay_passes_the_budget_is_not_made() -> None:
    calls: list[int] = []

    def throttled() -> None:
        calls.append(1)
        raise TransientError("throttled", retry_after_s=60)

    started = time.monotonic()
    with pytest.raises(TransientError, match="gave up after 1 attempt in"):
        _run(throttled, _policy(budget_s=5))
    assert len(calls) == 1 and time.monotonic() - started < 5


def test_unexpected_exceptions_are_named_logged_with_their_traceback_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtc3ViamVjdCJ9.c2lnbmF0dXJlLXZhbHVl"

    def bug() -> None:
        calls.append(1)
        raise KeyError(f"no field in {secret}")

    with caplog.at_level(logging.ERROR, logger="onboarding.test"), pytest.raises(UnexpectedError) as info:
        _run(bug, _policy())
    assert len(calls) == 1
    error = info.value
    assert isinstance(error, PermanentError) and error.customer == "contoso" and error.step == "a-step"
    assert "unexpected KeyError" in str(error) and "traceback" in str(error)
    assert error.__cause__ is None
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Traceback" in logged and "KeyError" in logged
    assert secret not in logged and secret not in str(error)


def test_waits_inside_a_step_end_at_its_deadline() -> None:
    """A poll allowed 60 s inside a step with 0.5 s left ends after about 0.5 s (transient: the next run goes on)."""

    def deploying() -> None:
        poll_until(lambda: None, timeout_s=60, initial_delay_s=0.05, max_delay_s=0.1, what="deployment")

    started = time.monotonic()
    with pytest.raises(TransientError, match="deployment: not reached"):
        _run(deploying, _policy(budget_s=0.5))
    assert time.monotonic() - started < 5


def test_propagation_cut_short_by_the_deadline_stays_transient() -> None:
    def refused() -> None:
        raise AuthorizationPendingError("403 while roles propagate")

    def waiting() -> None:
        retry_propagation(refused, budget_s=60, initial_delay_s=0.05, max_delay_s=0.1, what="w", hint="h")

    with pytest.raises(AuthorizationPendingError):
        _run(waiting, _policy(budget_s=0.5))
    with pytest.raises(PermanentError, match="propagation budget"):
        retry_propagation(refused, budget_s=0.3, initial_delay_s=0.05, max_delay_s=0.1, what="w", hint="h")
