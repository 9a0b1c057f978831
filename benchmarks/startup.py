"""Scenario 6: run start on the event path. An ``aks.nodepool.drifted`` event for a scale set that already carries
the customer's identity (the run attaches nothing) is posted to Prefect's REST API as the receiver posts its events;
the deployment's trigger creates an attach-node-pool run. Measured from the event's time to the run's first task
(server timestamps), first with only the process worker, then with the warm runner started beside it, and broken
down: trigger (event -> run created), pickup (created -> Pending), start (Pending -> Running: process, imports,
engine) and prelude (Running -> first task)."""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort

from onboarding.catalog import find_customer
from tools.cloud_actions import VMSS_TYPE
from tools.stack import FINAL_STATES, PrefectStack

from .common import Bench, Figure
from .prefect_runs import run_and_wait

DEPLOYMENT = "attach-node-pool/on-event"
TIMEOUT_S = 300.0
STAGES = ("trigger", "pickup", "start", "prelude")


def _scale_set_id(bench: Bench, customer: str) -> str:
    node_rg = find_customer(customer, bench.catalog_dir).managed_application.parameters.node_resource_group
    for resource in bench.box.state()["resources"]:
        rid = str(resource.get("id", ""))
        if (
            resource.get("type", "").lower() == VMSS_TYPE
            and f"/resourcegroups/{node_rg.lower()}/" in rid.lower()
        ):
            return rid
    raise RuntimeError(f"{customer} has no node pool scale set")


def _wait_run(client: SyncPrefectClient, deployment_id: UUID, event_id: str) -> FlowRun:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for run in client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=20):
            done = run.state and run.state.type.value in FINAL_STATES
            if run.deployment_id == deployment_id and run.parameters.get("event_id") == event_id and done:
                return run
        time.sleep(0.25)
    raise TimeoutError(f"no finished attach-node-pool run for event {event_id} within {TIMEOUT_S:g} s")


def _stages(client: SyncPrefectClient, run: FlowRun, occurred: datetime) -> dict[str, Any]:
    """Seconds of each stage, and who ran it (a process worker labels its runs with its name)."""
    states = {s.type.value: s.timestamp for s in client.read_flow_run_states(run.id)}
    tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    first_task = min(t.start_time for t in tasks if t.start_time)
    marks: list[datetime] = [
        occurred,
        run.created or occurred,
        states["PENDING"],
        states["RUNNING"],
        first_task,
    ]
    seconds: dict[str, Any] = {
        name: round((b - a).total_seconds(), 2) for name, a, b in zip(STAGES, marks, marks[1:], strict=False)
    }
    seconds["total"] = round((first_task - occurred).total_seconds(), 2)
    seconds["runner"] = str((run.labels or {}).get("prefect.worker.name", "warm-runner"))
    return seconds


def _measure(bench: Bench, stack: PrefectStack, customer: str, samples: int) -> list[dict[str, Any]]:
    vmss_id = _scale_set_id(bench, customer)
    measured = []
    with stack.settings(), get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(DEPLOYMENT).id
        for _ in range(samples):
            resource = {
                "prefect.resource.id": f"aks.nodepool.{customer}.{vmss_id.rsplit('/', 1)[-1]}",
                "customer.id": customer,
                "azure.vmss.id": vmss_id,
            }
            event_id, occurred = stack.post_event("aks.nodepool.drifted", resource)
            run = _wait_run(client, deployment_id, event_id)
            if not (run.state and run.state.is_completed()):
                raise RuntimeError(f"{run.name}: {run.state.message if run.state else '?'}")
            measured.append(_stages(client, run, occurred))
    return measured


def _report(bench: Bench, name: str, measured: list[dict[str, Any]], note: str) -> None:
    bench.details[name] = {
        "samples": measured,
        "median_s": {stage: statistics.median(m[stage] for m in measured) for stage in (*STAGES, "total")},
    }
    bench.report(Figure(name, statistics.median(m["total"] for m in measured), "s", note=note))


def _deployment_run_startup(stack: PrefectStack, customer: str) -> float:
    """The orchestration scenario's deployment_run_startup (wall to a final state minus the run's running time),
    for a re-run of ``customer`` (it writes nothing)."""
    run, wall = run_and_wait(stack, "onboard-customer/fleet", {"customer": customer})
    return round(wall - run.total_run_time.total_seconds(), 2)


def run(bench: Bench, stack: PrefectStack, customer: str, samples: int = 5) -> None:
    """Process worker alone, then with the warm runner (its default flows: left running for the scenarios after
    this one); and an onboard-customer deployment run by each (the warm runner serving that flow too)."""
    process_deployment = _deployment_run_startup(stack, customer)
    _report(bench, "event_run_startup_process", _measure(bench, stack, customer, samples), "process worker")
    warm = stack.start_warm_runner()  # its imports are paid once here, not per run
    _report(bench, "event_run_startup", _measure(bench, stack, customer, samples), "event -> first step")
    stack.stop_runner(warm)
    also_onboarding = stack.start_warm_runner(["attach-node-pool", "onboard-customer"])
    warm_deployment = _deployment_run_startup(stack, customer)
    stack.stop_runner(also_onboarding)
    stack.start_warm_runner()
    bench.report(Figure("deployment_run_startup_rerun_process", process_deployment, "s", note="re-run"))
    bench.report(
        Figure("deployment_run_startup_rerun_warm", warm_deployment, "s", note="re-run, warm runner")
    )
