"""A fleet onboarded while ARM fails transiently (429 with Retry-After, 500/503, 409 conflicts on scale sets and
clusters, token-bucket throttling) and role propagation and PrincipalNotFound windows are on; then every customer
is verified and the invariants hold on the sandbox's final state.

Driven by the plain step functions under the product's task retry policy (tests/chaos/fleet.py) in a thread pool,
not through Prefect: 21 flow-run processes (~3 s CPU and ~80 MB each) would cost more than the whole fleet on
two cores, and the retry policy, the steps and the clients are the same code the tasks run. The Prefect path is
covered by the crash trials and the e2e tests. Fault rules and jitter are seeded; thread interleaving still varies
which request a fault lands on, so the figures vary a little between runs while the invariants must not.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.errors import TransientError
from onboarding.settings import Settings
from sandbox.client import SandboxProcess
from tools.cloud_actions import add_agent_pool

from .fleet import Tally, fleet_specs, onboard, register
from .invariants import (
    Checks,
    check_cluster_objects,
    check_converged,
    check_federated_credentials,
    check_scale_sets,
    check_unique_assignments,
)

pytestmark = [pytest.mark.chaos, pytest.mark.xdist_group("chaos")]

SEED = 20261128
CUSTOMERS = 21
THREADS = 10
MIN_FAULT_RATE = 0.15
BUSY = "Operation is not allowed since another operation is in progress (injected)."
FAULT_RULES: list[dict[str, Any]] = [
    {
        "method": "PATCH",
        "path": r"/virtualMachineScaleSets/[^/]+$",
        "status": 409,
        "code": "OperationNotAllowed",
        "message": BUSY,
        "probability": 0.4,
    },
    {
        "method": "POST",
        "path": r"/managedClusters/[^/]+/listClusterUserCredential$",
        "status": 409,
        "code": "OperationNotAllowed",
        "message": BUSY,
        "probability": 0.3,
    },
    {"path": ".", "status": 429, "code": "TooManyRequests", "retry_after": 1, "probability": 0.06},
    {"path": ".", "status": 500, "code": "InternalServerError", "probability": 0.05},
    {"path": ".", "status": 503, "code": "ServiceUnavailable", "probability": 0.05},
]
TIMING = {
    "role_propagation_s": 2.0,
    "principal_not_found_s": 2.0,
    "reads_burst": 8,
    "reads_per_s": 4.0,
    "writes_burst": 4,
    "writes_per_s": 2.0,
}


def _rules() -> list[dict[str, Any]]:
    return [{**rule, "seed": SEED + i} for i, rule in enumerate(FAULT_RULES)]


def _transient(entry: dict[str, Any]) -> bool:
    return entry["status"] in (409, 429) or entry["status"] >= 500


def _onboard_like_the_reconcile(ctx: CustomerContext, *, tally: Tally, reruns: list[str]) -> ClusterInfo:
    """One onboarding; a customer whose retries ran out on transient faults gets one more run, as the next
    scheduled reconcile would give it (bounded retries, then convergence on the next run)."""
    rng = random.Random(f"{SEED}-{ctx.spec.name}")
    try:
        return onboard(ctx, tally=tally, rng=rng)
    except TransientError:
        reruns.append(ctx.spec.name)
        return onboard(ctx, tally=tally, rng=rng)


def test_fleet_converges_under_transient_faults(chaos_box: SandboxProcess) -> None:
    specs = fleet_specs(1, CUSTOMERS)
    register(chaos_box, specs)
    adopted = [s for s in specs if s.managed_application.adopt_only]
    for spec in adopted:  # a second node pool before onboarding: more scale sets with identities to keep
        add_agent_pool(chaos_box, spec, "userpool")
    before = chaos_box.state()

    chaos_box.set_timing(**TIMING)
    mark = chaos_box.mark()
    chaos_box.set_faults(_rules())
    tally = Tally()
    reruns: list[str] = []
    started = time.monotonic()
    random.seed(SEED)  # the product's own poll jitter
    contexts = [CustomerContext(spec, Settings()) for spec in specs]
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [
                pool.submit(_onboard_like_the_reconcile, ctx, tally=tally, reruns=reruns) for ctx in contexts
            ]
            clusters = [f.result() for f in futures]
        fired = {
            f"{r['status']} {r['method']} {r['path']}": r["fired"]
            for r in chaos_box.admin("GET", "/faults")["rules"]
        }
    finally:
        chaos_box.clear_faults()
        chaos_box.reset_timing()
    fleet_s = time.monotonic() - started
    log = chaos_box.requests_log(since=mark)
    failed = [e for e in log if _transient(e)]
    rate = len(failed) / len(log)

    started = time.monotonic()
    after = chaos_box.state()
    checks = Checks()
    onboarded = list(zip(contexts, clusters, strict=True))
    check_scale_sets(checks, before, after, clusters)
    check_unique_assignments(checks, after)
    check_federated_credentials(checks, after, onboarded)
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda pair: check_cluster_objects(checks, *pair), onboarded))
    check_converged(checks, chaos_box, contexts, THREADS)

    checks_s = time.monotonic() - started
    print(
        f"\nfigure chaos_customers {len(specs)} verified in {fleet_s:.0f} s, {THREADS} threads "
        f"({len(adopted)} adopted with 2 node pools)"
        f"\nfigure chaos_arm_requests {len(log)}"
        f"\nfigure chaos_transient_failures {len(failed)} ({rate:.1%}; by status "
        f"{ {s: sum(1 for e in failed if e['status'] == s) for s in sorted({e['status'] for e in failed})} })"
        f"\nfigure chaos_faults_fired_by_rules {sum(fired.values())} {fired}"
        f"\nfigure chaos_step_retries {tally.total} {tally.retries}"
        f"\nfigure chaos_second_runs {len(reruns)} {sorted(reruns)}"
        f"\nfigure chaos_invariant_checks_passed {checks.passed} in {checks_s:.0f} s"
    )
    assert not checks.failures, "\n".join(checks.failures)
    assert len(reruns) <= CUSTOMERS // 5, f"too many customers needed a second run: {reruns}"
    assert rate >= MIN_FAULT_RATE, f"only {rate:.1%} of ARM calls failed transiently"
