"""Crash trials: where to kill an onboarding (a request showing that a step is under way, plus a seeded delay), how
to wait for that moment, and what must hold once the next run is done: the chaos fleet's invariants, no repeated
write, no kubeconfig left on disk."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboarding.context import CustomerContext
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from sandbox.client import SandboxProcess
from tools.fleet_catalog import customer_document

from .invariants import (
    Checks,
    check_cluster_objects,
    check_converged,
    check_federated_credentials,
    check_scale_sets,
    check_unique_assignments,
)

# Slower operations widen the windows a kill can land in (the product polls, so only the wall time changes).
CRASH_TIMING = {"app_deploy_s": 2.0, "vmss_update_s": 1.5, "pod_start_s": 1.0, "principal_not_found_s": 4.0}
HOLD_S = 2


@dataclass(frozen=True)
class KillPoint:
    step: str
    trigger: str  # searched in "METHOD path" of the customer's ARM requests
    occurrence: int
    delay_s: tuple[float, float]  # seeded uniform delay after the trigger
    shape: int  # fleet catalog shape: 0 managed aad-pod-identity, 1 standard mode with Owner, 2 adopted
    # A GET of the step answered once with 429 + Retry-After: the client waits inside the step, widening a
    # window that is otherwise a few milliseconds long.
    hold: str | None = None

    @property
    def task(self) -> str:
        return self.step.replace("_", "-")

    def hold_rules(self, spec: CustomerSpec) -> list[dict[str, Any]]:
        if self.hold is None:
            return []
        path = f"/subscriptions/{spec.subscription_id}/{self.hold}"
        return [{"method": "GET", "path": path, "status": 429, "retry_after": HOLD_S, "count": 1}]


KILL_POINTS = (
    # during the deployment's long-running operation
    KillPoint("ensure-managed-app", r"^PUT .*/Microsoft\.Solutions/applications/[^/]+$", 1, (0.0, 1.5), 0),
    # between the reads of discovery
    KillPoint("discover-cluster", r"^GET .*/managedClusters/[^/]+$", 1, (0.0, 0.15), 0),
    # after the step's first read, while it waits out a 429 on its second, before the kubelet's new assignment
    KillPoint(
        "ensure-node-rg-roles",
        r"^GET .*-aks-rg/providers/Microsoft\.Authorization/roleAssignments$",
        1,
        (0.2, 1.5),
        1,
        hold=r"resourceGroups/[^/]+-mrg/providers/Microsoft\.Authorization/roleAssignments$",
    ),
    # during the scale set PATCH's long-running operation
    KillPoint("attach-identities", r"^PATCH .*/virtualMachineScaleSets/", 1, (0.0, 1.0), 0),
    # in helm (install, status) or the AzureIdentity objects
    KillPoint("install-pod-identity", r"^POST .*/listClusterUserCredential$", 1, (0.3, 1.5), 0),
    # while the probe Job runs
    KillPoint("verify-storage-access", r"^POST .*/listClusterUserCredential$", 2, (0.3, 1.5), 1),
)


def wait_for_request(
    box: SandboxProcess,
    since: int,
    subscription: str,
    point: KillPoint,
    *,
    alive: Callable[[], bool],
    timeout_s: float = 180.0,
) -> None:
    """Return once the customer's ARM log shows ``point.trigger`` ``point.occurrence`` times."""
    pattern = re.compile(point.trigger, re.I)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = [
            e
            for e in box.requests_log(since=since)
            if subscription in e["path"].lower() and pattern.search(f"{e['method']} {e['path']}")
        ]
        if len(seen) >= point.occurrence:
            return
        if not alive():
            raise AssertionError(f"the onboarding ended before {point.step} was reached")
        time.sleep(0.05)
    raise TimeoutError(f"{point.step} not reached within {timeout_s:g} s")


def repeated_writes(log: list[dict[str, Any]], spec: CustomerSpec) -> list[str]:
    """Writes of the customer that a resumed run repeated: the same successful write twice, a PATCH that adds an
    identity already there (400), a role assignment that already existed (409 RoleAssignmentExists)."""
    sub = spec.subscription_id.lower()
    writes = [e for e in log if e["kind"] == "write" and sub in e["path"].lower()]
    done = Counter(f"{e['method']} {e['path'].lower()}" for e in writes if 200 <= e["status"] < 300)
    repeated = [f"{count}x {write}" for write, count in done.items() if count > 1]
    repeated += [
        f"{e['status']} {e['method']} {e['path']}"
        for e in writes
        if (e["method"] == "PATCH" and e["status"] == 400)
        or ("roleassignments" in e["path"].lower() and e["status"] == 409)
    ]
    return repeated


def trial_specs(first_trial: int) -> list[CustomerSpec]:
    """One fresh customer per kill point, of the shape the point needs."""
    return [
        load_customer_spec(customer_document(3 * (first_trial + i) + p.shape, tenants=5))
        for i, p in enumerate(KILL_POINTS)
    ]


def kill(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process and everything in its session (it was started with start_new_session)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def verify_trials(
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
