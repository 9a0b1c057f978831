"""Crash and resume: an onboarding killed with SIGKILL in each step, then the next run converges with the same
invariants as the chaos fleet and repeats no write.

Two kinds of trial, one per step each, at seeded delays after a request that shows the step is under way:
- the real thing: a Prefect process worker (its own session; the flow run is its child) killed with
  ``os.killpg(..., SIGKILL)`` while running a run of the ``onboard-customer/fleet`` deployment; the next run of
  the same deployment goes to a fresh worker. The task run still RUNNING after the kill names the step it landed in.
- a plain Python process running the same steps under the same retry policy (``tests.chaos.onboard_once``),
  killed the same way and run again. Equivalent for convergence: a flow run is exactly such a process, SIGKILL
  leaves neither of them a chance to clean up, and a new run reads the cloud from scratch in both cases (Prefect
  keeps no state the steps use); it costs a third of a worker trial, so each step gets a second kill moment.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from onboarding.context import CustomerContext
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from sandbox.client import SandboxProcess
from tools.fleet_catalog import customer_document
from tools.stack import PrefectStack

from .crash import (
    CRASH_TIMING,
    KILL_POINTS,
    KillPoint,
    create_run,
    mark_crashed,
    repeated_writes,
    run_state,
    running_tasks,
    wait_for_request,
    wait_for_state,
)
from .fleet import register
from .invariants import (
    Checks,
    check_cluster_objects,
    check_converged,
    check_federated_credentials,
    check_scale_sets,
    check_unique_assignments,
)

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.xdist_group("chaos")]

REPO = Path(__file__).resolve().parents[2]
SEED = 4242
RUN_TIMEOUT_S = 240.0
PROCESS_TRIALS_AT_ONCE = 3  # independent customers: their kill triggers are told apart by subscription


@pytest.fixture(scope="module", autouse=True)
def _slower_operations(chaos_box: SandboxProcess) -> None:
    chaos_box.set_timing(**CRASH_TIMING)


def _specs(first_trial: int) -> list[CustomerSpec]:
    return [
        load_customer_spec(customer_document(3 * (first_trial + i) + p.shape, tenants=5))
        for i, p in enumerate(KILL_POINTS)
    ]


def _verify(
    box: SandboxProcess, specs: list[CustomerSpec], since: int, before: dict[str, Any], tmp: Path
) -> Checks:
    """Everything the chaos fleet must satisfy, plus: no repeated write and no kubeconfig left on disk."""
    log = box.requests_log(since=since)
    contexts = [CustomerContext(spec, Settings()) for spec in specs]
    clusters = [discover_cluster(ctx) for ctx in contexts]
    checks = Checks()
    for spec in specs:
        repeated = repeated_writes(log, spec)
        checks.check(not repeated, f"{spec.name}: repeated writes {repeated}")
    after = box.state()
    check_scale_sets(checks, before, after, clusters)
    check_unique_assignments(checks, after)
    check_federated_credentials(checks, after, list(zip(contexts, clusters, strict=True)))
    for ctx, cluster in zip(contexts, clusters, strict=True):
        check_cluster_objects(checks, ctx, cluster)
    check_converged(checks, box, contexts, threads=3)
    leftovers = sorted(p.name for p in tmp.rglob("kubeconfig-*"))
    checks.check(not leftovers, f"kubeconfig files left on disk: {leftovers}")
    return checks


def _kill(proc: subprocess.Popen[Any]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_worker_killed_in_each_step_then_the_next_deployment_run_converges(
    chaos_box: SandboxProcess, chaos_stack: PrefectStack
) -> None:
    rng = random.Random(SEED)
    specs = _specs(40)
    register(chaos_box, specs)
    before, since, started = chaos_box.state(), chaos_box.mark(), time.monotonic()
    landed: list[tuple[str, list[str]]] = []
    worker = chaos_stack.start_worker("crash-0")
    try:
        for trial, (point, spec) in enumerate(zip(KILL_POINTS, specs, strict=True), start=1):
            mark = chaos_box.mark()
            run_id = create_run(chaos_stack, spec)
            wait_for_state(chaos_stack, run_id, {"RUNNING"}, timeout_s=RUN_TIMEOUT_S)
            successor = chaos_stack.start_worker(f"crash-{trial}")  # starts up while the doomed run works

            def alive(run_id: Any = run_id) -> bool:
                return run_state(chaos_stack, run_id)[0] == "RUNNING"

            wait_for_request(chaos_box, mark, spec.subscription_id.lower(), point, alive=alive)
            time.sleep(rng.uniform(*point.delay_s))
            _kill(worker)
            landed.append((point.step, running_tasks(chaos_stack, run_id)))
            mark_crashed(chaos_stack, run_id)
            worker = successor
            wait_for_state(chaos_stack, create_run(chaos_stack, spec), {"COMPLETED"}, timeout_s=RUN_TIMEOUT_S)
    finally:
        _kill(worker)
    trials_s = time.monotonic() - started

    checks = _verify(chaos_box, specs, since, before, chaos_stack.home / "tmp")
    for step, tasks in landed:
        checks.check(
            any(t.startswith(step.replace("_", "-")) for t in tasks), f"kill for {step} landed in {tasks}"
        )
    print(
        f"\nfigure crash_worker_trials {len(landed)} in {trials_s:.0f} s, all resumed to COMPLETED"
        f"\nfigure crash_worker_landed {[(s, t) for s, t in landed]}"
        f"\nfigure crash_worker_invariant_checks_passed {checks.passed}"
    )
    assert not checks.failures, "\n".join(checks.failures)


def _process_trial(
    box: SandboxProcess, point: KillPoint, spec: CustomerSpec, delay_s: float, tmp: Path
) -> str:
    """Kill ``python -m tests.chaos.onboard_once`` in ``point`` after ``delay_s``, run it again to the end; returns
    the step the kill landed in (the last ``step <name>`` it printed)."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    command = [sys.executable, "-m", "tests.chaos.onboard_once", spec.model_dump_json(exclude_none=True)]
    output = tmp / f"{spec.name}.out"
    with output.open("w") as out:
        mark = box.mark()
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True
        )
        try:
            wait_for_request(
                box, mark, spec.subscription_id.lower(), point, alive=lambda: proc.poll() is None
            )
            time.sleep(delay_s)
        finally:
            _kill(proc)
    steps = [line.split()[1] for line in output.read_text().splitlines() if line.startswith("step ")]
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=RUN_TIMEOUT_S)
    assert again.returncode == 0 and "verified" in again.stdout, again.stdout[-3000:]
    return steps[-1] if steps else ""


def test_onboarding_process_killed_in_each_step_then_the_next_run_converges(
    chaos_box: SandboxProcess, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    specs = _specs(60)
    register(chaos_box, specs)
    delays = [rng.uniform(*p.delay_s) for p in KILL_POINTS]
    before, since, started = chaos_box.state(), chaos_box.mark(), time.monotonic()
    with ThreadPoolExecutor(PROCESS_TRIALS_AT_ONCE) as pool:
        lasts = list(
            pool.map(
                lambda t: _process_trial(chaos_box, *t, tmp_path),
                zip(KILL_POINTS, specs, delays, strict=True),
            )
        )
    trials_s = time.monotonic() - started
    landed = [(p.step, last) for p, last in zip(KILL_POINTS, lasts, strict=True)]

    checks = _verify(chaos_box, specs, since, before, tmp_path)
    for step, last in landed:
        checks.check(step == last, f"kill for {step} landed in {last}")
    print(
        f"\nfigure crash_process_trials {len(landed)} in {trials_s:.0f} s ({PROCESS_TRIALS_AT_ONCE} at once), "
        f"all resumed to verified"
        f"\nfigure crash_process_landed {landed}"
        f"\nfigure crash_process_invariant_checks_passed {checks.passed}"
    )
    assert not checks.failures, "\n".join(checks.failures)
