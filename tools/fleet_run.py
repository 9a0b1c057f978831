"""Runs the `reconcile-fleet/nightly` deployment against a Prefect API and reads back what happened: the fleet run,
its child runs (one `onboard-customer/fleet` run per customer), which worker ran each, and how long it took.

The worker of a flow run is read from the labels a worker gives every run it submits
(``prefect.worker.name``), set before the run leaves Pending, so it is there for every run a worker took.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.events import Event
from prefect.events.clients import get_events_client
from prefect.settings import PREFECT_API_URL, temporary_settings

FLEET = "reconcile-fleet/nightly"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@contextmanager
def prefect_api(api_url: str) -> Iterator[SyncPrefectClient]:
    """A client of that API whatever PREFECT_API_URL was when prefect was imported (settings freeze then)."""
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        yield client


def worker_of(run: FlowRun) -> str:
    return str(run.labels.get("prefect.worker.name", "?"))


def state_of(run: FlowRun) -> str:
    return run.state.type.value if run.state else "UNKNOWN"


@dataclass
class FleetOutcome:
    fleet: FlowRun
    children: list[FlowRun]
    seconds: float

    def runs_by_customer(self) -> Counter[str]:
        return Counter(str(run.parameters["customer"]) for run in self.children)

    def completed(self) -> set[str]:
        return {str(r.parameters["customer"]) for r in self.children if state_of(r) == "COMPLETED"}

    def runs_per_worker(self) -> Counter[str]:
        """Flow runs each worker took: the customers' runs and the fleet run itself."""
        return Counter(worker_of(run) for run in [self.fleet, *self.children])

    def median_seconds(self) -> tuple[float, float]:
        """Median seconds of a customer's run from created to Running (worker pick-up, process start, imports)
        and from Running to its end."""
        started = [r for r in self.children if r.start_time and r.created]
        waits = [((r.start_time or r.created) - r.created).total_seconds() for r in started if r.created]
        runs = [r.total_run_time.total_seconds() for r in started]
        return (statistics.median(waits), statistics.median(runs)) if started else (0.0, 0.0)

    def failures(self) -> list[str]:
        return [
            f"{r.parameters['customer']['name']}: {state_of(r)} {(r.state.message if r.state else '') or ''}"[
                :200
            ]
            for r in self.children
            if state_of(r) != "COMPLETED"
        ]


def pause_schedules(api_url: str, deployments: list[str]) -> None:
    """Pause deployments' schedules (their auto-scheduled runs are deleted), e.g. the node pool watch."""
    with prefect_api(api_url) as client:
        for name in deployments:
            client.pause_deployment(client.read_deployment_by_name(name).id)


def run_fleet(
    api_url: str, *, timeout_s: float = 1800.0, parameters: dict[str, Any] | None = None
) -> FleetOutcome:
    """Start the fleet deployment as the UI's Run button does, wait for it, and read its child runs (the fleet
    reads the workers' catalog, ONBOARDING_CATALOG_DIR)."""
    with prefect_api(api_url) as client:
        deployment = client.read_deployment_by_name(FLEET)
        started = time.monotonic()
        run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters or {})
        deadline = started + timeout_s
        while state_of(run) not in FINAL and time.monotonic() < deadline:
            time.sleep(1.0)
            run = client.read_flow_run(run.id)
        seconds = time.monotonic() - started
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])),
            limit=200,
        )
    return FleetOutcome(fleet=run, children=children, seconds=seconds)


def trigger_latency(
    api_url: str, deployment: str, event: str, resource: dict[str, str], *, timeout_s: float = 300.0
) -> float:
    """Emit one event and return the seconds until the server created the run of the triggered deployment."""
    with prefect_api(api_url) as client:
        deployment_id: UUID = client.read_deployment_by_name(deployment).id
        emitted = datetime.now(UTC)

        async def emit() -> None:
            async with get_events_client() as events:
                await events.emit(Event(event=event, resource=resource, id=uuid4(), occurred=emitted))

        asyncio.run(emit())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                limit=200,
            )
            triggered = [r for r in runs if r.created and r.created >= emitted]
            if triggered:
                run = min(triggered, key=lambda r: r.created or emitted)
                latency = ((run.created or emitted) - emitted).total_seconds()
                while (
                    state_of(run) not in FINAL and time.monotonic() < deadline
                ):  # let it finish before a stop
                    time.sleep(0.5)
                    run = client.read_flow_run(run.id)
                return latency
            time.sleep(0.1)
    raise TimeoutError(f"no {deployment} run within {timeout_s:.0f} s of the {event} event")
