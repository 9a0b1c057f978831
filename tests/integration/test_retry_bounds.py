"""Issue 15 item 2: a step ends within ``retry_budget_s`` (plus one SDK call) whatever the cloud does: its retries
stop when the next delay would pass the budget, and the waits inside it (role propagation here) end at the step's
deadline. The product's pipeline and retry runner against the sandbox with its faults and timing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from onboarding.context import CustomerContext
from onboarding.errors import AuthorizationPendingError, TransientError
from onboarding.pipeline import run_onboarding
from onboarding.settings import Settings
from sandbox.client import SandboxProcess
from tools.customers import register_customer

from .adopted import adopted_spec

pytestmark = pytest.mark.integration

BUDGET_S = 5.0
SDK_CALL_S = 5.0


class Clock:
    """onboarding.retry.Attempts that times each step from its first attempt and counts the attempts."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.attempts: dict[str, int] = {}

    def started(self, step: str, attempt: int) -> None:
        self.first.setdefault(step, time.monotonic())
        self.attempts[step] = attempt

    def retrying(self, step: str, attempt: int, error: TransientError, delay_s: float) -> None:
        pass

    def unexpected(self, step: str, error: Exception) -> None:
        pass

    def last_step(self) -> tuple[str, float, int]:
        step = max(self.first, key=lambda name: self.first[name])
        return step, time.monotonic() - self.first[step], self.attempts[step]


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "poll_interval_s": 0.05,
        "retry_budget_s": BUDGET_S,
        "retry_base_delay_s": 0.2,
        "retry_max_delay_s": 1.0,
        "step_retries": 100,
        "sdk_retry_total": 1,
        "sdk_call_timeout_s": SDK_CALL_S,
    }
    return Settings(**{**values, **overrides})


def test_a_step_failing_every_attempt_ends_within_its_budget(sandbox: SandboxProcess) -> None:
    spec = adopted_spec("boundretry")
    register_customer(sandbox, spec)
    clock = Clock()
    mark = sandbox.mark()
    sandbox.set_faults(
        [
            {
                "method": "GET",
                "path": r"/managedClusters/boundretryaks$",
                "status": 503,
                "code": "ServiceUnavailable",
                "probability": 1.0,
            }
        ]
    )
    try:
        with pytest.raises(TransientError, match="gave up after") as info:
            run_onboarding(CustomerContext(spec, _settings()), dry_run=False, attempts=clock)
    finally:
        sandbox.clear_faults()
    step, seconds, attempts = clock.last_step()
    reads = [
        e for e in sandbox.requests_log(since=mark) if e["path"].endswith("/managedClusters/boundretryaks")
    ]
    print(f"\nfigure retry_bound {step}: {attempts} attempts, {len(reads)} requests in {seconds:.1f} s")
    assert step == "discover-cluster" and info.value.status == 503
    assert attempts >= 3, "the step was retried"
    assert len(reads) == attempts * 2, "each attempt's read was retried once by the SDK, no more"
    assert seconds <= BUDGET_S + SDK_CALL_S


def test_a_wait_inside_a_step_ends_at_its_deadline_and_stays_transient(sandbox: SandboxProcess) -> None:
    """Role propagation allowed 10 minutes (``propagation_budget_s``) inside a step of 5 s: the step gives up at
    its deadline, transient (the next run goes on waiting), not refused as a propagation that never came."""
    spec = adopted_spec("boundwait")
    sandbox.set_timing(role_propagation_s=120)
    clock = Clock()
    try:
        register_customer(sandbox, spec)
        with pytest.raises(AuthorizationPendingError, match="gave up after"):
            run_onboarding(
                CustomerContext(spec, _settings(propagation_budget_s=600)), dry_run=False, attempts=clock
            )
    finally:
        sandbox.reset_timing()
    step, seconds, attempts = clock.last_step()
    print(f"\nfigure wait_bound {step}: {attempts} attempts in {seconds:.1f} s")
    assert seconds <= BUDGET_S + SDK_CALL_S
