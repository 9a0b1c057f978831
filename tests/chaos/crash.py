"""Crash trials: where to kill an onboarding (a request showing that a step is under way, plus a seeded delay), how
to wait for that moment, the Prefect calls a trial needs, and the writes a resumed run must not repeat."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.states import Crashed

from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tools.stack import FINAL_STATES, PrefectStack

FLEET_DEPLOYMENT = "onboard-customer/fleet"
# Slower operations widen the windows a kill can land in (the product polls, so only the wall time changes).
CRASH_TIMING = {"app_deploy_s": 2.0, "vmss_update_s": 1.5, "pod_start_s": 1.0, "principal_not_found_s": 4.0}


@dataclass(frozen=True)
class KillPoint:
    step: str
    trigger: str  # searched in "METHOD path" of the customer's ARM requests
    occurrence: int
    delay_s: tuple[float, float]  # seeded uniform delay after the trigger
    shape: int  # fleet catalog shape: 0 managed aad-pod-identity, 1 standard mode with Owner, 2 adopted

    @property
    def task(self) -> str:
        return self.step.replace("_", "-")


KILL_POINTS = (
    # during the deployment's long-running operation
    KillPoint("ensure_managed_app", r"^PUT .*/Microsoft\.Solutions/applications/[^/]+$", 1, (0.0, 1.5), 0),
    # between the reads of discovery
    KillPoint("discover_cluster", r"^GET .*/managedClusters/[^/]+$", 1, (0.0, 0.15), 0),
    # after the step's first read, while the kubelet's new assignment waits out PrincipalNotFound
    KillPoint(
        "ensure_node_rg_roles",
        r"^GET .*-aks-rg/providers/Microsoft\.Authorization/roleAssignments$",
        1,
        (0.0, 1.5),
        1,
    ),
    # during the scale set PATCH's long-running operation
    KillPoint("attach_identities", r"^PATCH .*/virtualMachineScaleSets/", 1, (0.0, 1.0), 0),
    # in helm (install, status) or the AzureIdentity objects
    KillPoint("install_pod_identity", r"^POST .*/listClusterUserCredential$", 1, (0.3, 1.5), 0),
    # while the probe Job runs
    KillPoint("verify_storage_access", r"^POST .*/listClusterUserCredential$", 2, (0.3, 1.5), 1),
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


# --- Prefect ---
def create_run(stack: PrefectStack, spec: CustomerSpec) -> UUID:
    """A run of the fleet deployment with this customer, as the UI's Run button or reconcile-fleet makes it."""
    with stack.settings(), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(FLEET_DEPLOYMENT)
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"customer": spec.model_dump(mode="json", exclude_none=True)}
        )
    return run.id


def run_state(stack: PrefectStack, run_id: UUID) -> tuple[str, str]:
    with stack.settings(), get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return (state.type.value, state.message or "") if state else ("", "")


def wait_for_state(stack: PrefectStack, run_id: UUID, wanted: set[str], *, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state, message = run_state(stack, run_id)
        if state in wanted:
            return state
        if state in FINAL_STATES:
            raise AssertionError(f"flow run {run_id} ended {state}: {message}")
        time.sleep(0.5)
    raise TimeoutError(f"flow run {run_id} not in {wanted} within {timeout_s:g} s")


def running_tasks(stack: PrefectStack, run_id: UUID) -> list[str]:
    """Task runs of the flow run still RUNNING (after a SIGKILL: the ones the kill interrupted)."""
    with stack.settings(), get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    return sorted(t.name for t in tasks if t.state and t.state.type.value == "RUNNING")


def mark_crashed(stack: PrefectStack, run_id: UUID) -> None:
    """What Prefect shows once it knows the worker died (it has no heartbeat to notice by itself here)."""
    with stack.settings(), get_client(sync_client=True) as client:
        client.set_flow_run_state(
            run_id, Crashed(message="worker killed with SIGKILL by a crash trial"), force=True
        )
