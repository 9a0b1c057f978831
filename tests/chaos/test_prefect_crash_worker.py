"""Crash and resume through the real worker: a Prefect process worker (its own session; the flow run is its
child) killed with ``os.killpg(..., SIGKILL)`` in each onboarding step, at a seeded delay after a request showing
the step is under way, while running a run of the ``onboard-customer/fleet`` deployment; then the next run of the
same deployment, on another worker, converges with the chaos fleet's invariants and repeats no write.

Each trial's run goes to a work queue of its own served by a worker of its own, so three trials run at once and
killing one worker touches no other trial. Where a kill landed is read from the task run states the server got
(they travel as events, so the last transition before a SIGKILL can be missing): the step must not be COMPLETED.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tools.stack import PrefectStack

from .crash import CRASH_TIMING, KILL_POINTS, KillPoint, kill, trial_specs, verify_trials, wait_for_request
from .fleet import register
from .prefect_runs import create_run, mark_crashed, prefect_client, run_state, task_states, wait_for_state

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.xdist_group("chaos")]

SEED = 4242
RUN_TIMEOUT_S = 300.0
TRIALS_AT_ONCE = 3
RESUME_QUEUE = "resume"


@pytest.fixture(scope="module", autouse=True)
def _slower_operations(chaos_box: SandboxProcess) -> None:
    chaos_box.set_timing(**CRASH_TIMING)


def _worker_trial(
    stack: PrefectStack, box: SandboxProcess, point: KillPoint, spec: CustomerSpec, delay_s: float, trial: int
) -> dict[str, str]:
    """A run of the deployment on a worker of its own (a work queue of its own), the worker killed with its flow run
    in ``point`` after ``delay_s``, then the next run of the deployment to COMPLETED on the resume worker; returns
    the killed run's task run states as the server knows them (where the kill landed)."""
    queue = f"crash-{trial}"
    box.set_faults(point.hold_rules(spec))
    with prefect_client(stack) as client:
        mark = box.mark()
        run_id = create_run(client, spec, queue)
        worker = stack.start_worker(queue, queues=[queue])
        try:
            wait_for_state(client, run_id, {"RUNNING"}, timeout_s=RUN_TIMEOUT_S)
            wait_for_request(
                box,
                mark,
                spec.subscription_id.lower(),
                point,
                alive=lambda: run_state(client, run_id)[0] == "RUNNING",
            )
            time.sleep(delay_s)
        finally:
            kill(worker)
        landed = task_states(client, run_id)
        mark_crashed(client, run_id)
        wait_for_state(client, create_run(client, spec, RESUME_QUEUE), {"COMPLETED"}, timeout_s=RUN_TIMEOUT_S)
    return landed


def test_worker_killed_in_each_step_then_the_next_deployment_run_converges(
    chaos_box: SandboxProcess, chaos_stack: PrefectStack
) -> None:
    rng = random.Random(SEED)
    specs = trial_specs(40)
    register(chaos_box, specs)
    delays = [rng.uniform(*p.delay_s) for p in KILL_POINTS]
    before, since, started = chaos_box.state(), chaos_box.mark(), time.monotonic()
    resumer = chaos_stack.start_worker("crash-resume", queues=[RESUME_QUEUE])
    try:
        with ThreadPoolExecutor(TRIALS_AT_ONCE) as pool:
            landed = list(
                pool.map(
                    lambda t: _worker_trial(chaos_stack, chaos_box, *t),
                    zip(KILL_POINTS, specs, delays, range(len(specs)), strict=True),
                )
            )
    finally:
        kill(resumer)
    trials_s = time.monotonic() - started

    checks = verify_trials(chaos_box, specs, since, before, chaos_stack.home / "tmp")
    seen_running = []
    for point, spec, states in zip(KILL_POINTS, specs, landed, strict=True):
        state = states.get(f"{point.task}-{spec.name}", "not reported")
        checks.check(state != "COMPLETED", f"kill for {point.step} came after the step completed: {states}")
        seen_running += [point.step] if state == "RUNNING" else []
    print(
        f"\nfigure crash_worker_trials {len(landed)} in {trials_s:.0f} s ({TRIALS_AT_ONCE} at once), "
        "all resumed to COMPLETED"
        f"\nfigure crash_worker_target_step_seen_running {seen_running}"
        f"\nfigure crash_worker_invariant_checks_passed {checks.passed}"
    )
    assert not checks.failures, "\n".join(checks.failures)
