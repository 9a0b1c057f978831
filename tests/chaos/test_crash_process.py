"""Crash and resume, plain processes: ``python -m tests.chaos.onboard_once`` (the steps under the task retry
policy) killed with SIGKILL in each step at a seeded delay after a request showing the step is under way, then run
again; the next run converges with the chaos fleet's invariants and repeats no write.

Equivalent to killing a Prefect worker for what is tested here: a flow run is exactly such a process, SIGKILL
leaves neither a chance to clean up, and a new run reads the cloud from scratch in both cases (Prefect keeps no
state the steps use). It costs a third of a worker trial and, printing ``step <name>`` as each step starts,
shows exactly where the kill landed. The worker trials are in test_prefect_crash_worker.py.

One more trial is aimed, not timed: the kill comes while helm holds the release pending-install (seen in the
cluster's release Secret), the state a lost worker leaves and helm never leaves by itself.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes.client import CoreV1Api

from onboarding.context import CustomerContext
from onboarding.kube.kubeconfig import customer_cluster
from onboarding.models import CustomerSpec
from onboarding.pipeline import STEP_BY_NAME
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from sandbox.client import SandboxProcess

from .crash import CRASH_TIMING, KILL_POINTS, KillPoint, kill, trial_specs, verify_trials, wait_for_request
from .fleet import register

pytestmark = [pytest.mark.chaos, pytest.mark.xdist_group("chaos")]

REPO = Path(__file__).resolve().parents[2]
SEED = 4243
RUN_TIMEOUT_S = 240.0
TRIALS_AT_ONCE = 3  # independent customers: their kill triggers are told apart by subscription
INSTALL = next(p for p in KILL_POINTS if p.step == "install-pod-identity")


@pytest.fixture(scope="module", autouse=True)
def _slower_operations(chaos_box: SandboxProcess) -> None:
    chaos_box.set_timing(**CRASH_TIMING)


def _process_trial(
    box: SandboxProcess, point: KillPoint, spec: CustomerSpec, delay_s: float, tmp: Path
) -> list[str]:
    """Kill ``python -m tests.chaos.onboard_once`` in ``point`` after ``delay_s``, run it again to the end; returns
    the steps under way when the kill landed (``under_way`` of what it printed)."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    command = [sys.executable, "-m", "tests.chaos.onboard_once", spec.model_dump_json(exclude_none=True)]
    output = tmp / f"{spec.name}.out"
    box.set_faults(point.hold_rules(spec))
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
            kill(proc)
    steps = [line.split()[1] for line in output.read_text().splitlines() if line.startswith("step ")]
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=RUN_TIMEOUT_S)
    assert again.returncode == 0 and "verified" in again.stdout, again.stdout[-3000:]
    return under_way(steps)


def under_way(printed: list[str]) -> list[str]:
    """The last step each lane started: the overlapping steps run beside the others (onboarding/pipeline.py)."""
    lanes: dict[bool, str] = {}
    for step in printed:
        lanes[STEP_BY_NAME[step].overlaps] = step
    return sorted(lanes.values())


def test_onboarding_process_killed_in_each_step_then_the_next_run_converges(
    chaos_box: SandboxProcess, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    specs = trial_specs(60)
    register(chaos_box, specs)
    delays = [rng.uniform(*p.delay_s) for p in KILL_POINTS]
    before, since, started = chaos_box.state(), chaos_box.mark(), time.monotonic()
    with ThreadPoolExecutor(TRIALS_AT_ONCE) as pool:
        under = list(
            pool.map(
                lambda t: _process_trial(chaos_box, *t, tmp_path),
                zip(KILL_POINTS, specs, delays, strict=True),
            )
        )
    trials_s = time.monotonic() - started
    landed = [(p.step, steps) for p, steps in zip(KILL_POINTS, under, strict=True)]

    checks = verify_trials(chaos_box, specs, since, before, tmp_path)
    for step, steps in landed:
        checks.check(step in steps, f"kill for {step} landed in {steps}")
    print(
        f"\nfigure crash_process_trials {len(landed)} in {trials_s:.0f} s ({TRIALS_AT_ONCE} at once), "
        f"all resumed to verified"
        f"\nfigure crash_process_landed {landed}"
        f"\nfigure crash_process_invariant_checks_passed {checks.passed}"
    )
    assert not checks.failures, "\n".join(checks.failures)


def test_helm_killed_mid_install_is_recovered_by_the_next_run(
    chaos_box: SandboxProcess, tmp_path: Path
) -> None:
    """SIGKILL while helm holds the release pending-install (seen in the cluster's release Secret): helm would refuse
    every later operation for ever; the next run recovers the release once it is older than helm_stale_lock_s."""
    spec = trial_specs(80)[KILL_POINTS.index(INSTALL)]
    register(chaos_box, [spec])
    before, since = chaos_box.state(), chaos_box.mark()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "tests.chaos.onboard_once", spec.model_dump_json(exclude_none=True)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    try:
        wait_for_request(
            chaos_box, since, spec.subscription_id.lower(), INSTALL, alive=lambda: proc.poll() is None
        )
        ctx = CustomerContext(spec, Settings())
        with customer_cluster(ctx, discover_cluster(ctx), step="crash-trial") as access:
            core = CoreV1Api(access.api)
            selector = f"owner=helm,name={spec.chart.release},status=pending-install"
            while not core.list_namespaced_secret(spec.chart.namespace, label_selector=selector).items:
                assert proc.poll() is None, "the install finished before it was seen pending"
            kill(proc)
            assert core.list_namespaced_secret(spec.chart.namespace, label_selector=selector).items
    finally:
        kill(proc)
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=RUN_TIMEOUT_S)
    assert again.returncode == 0 and "verified" in again.stdout, again.stdout[-3000:]
    checks = verify_trials(chaos_box, [spec], since, before, tmp_path)
    assert not checks.failures, "\n".join(checks.failures)
