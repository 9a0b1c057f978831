"""A long-lived runner for the event path: it takes the work pool's scheduled runs of a few flows (by default
the event-triggered ones) and runs them in its own process, already importing Prefect and the SDKs, instead of a new
Python process per run (the process worker's ~3 s of CPU per node pool run before its first step, far more on a
busy machine).

It claims the pool's due runs the moment the server announces a Scheduled flow run (the events websocket, as the
UI's event feed gets them), and also polls the pool like a worker (``--poll``) in case an announcement is missed.
It claims a run by proposing Pending: the server accepts one claim, so a process worker on the same pool and queues
stays the fallback (it takes the runs while this runner is down, and the rare run it claims first). Runs execute in
threads (``--slots`` at once); a run's cancellation from the UI is not delivered (the run finishes), and a runner
that dies mid-run leaves that run Running like a killed worker process does.

    python -m flows.warm_runner --pool ama-onboarding [--flows attach-node-pool,check-node-pools] [--poll 1] [--slots 4]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect import Flow, get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import SetStateStatus
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.flow_engine import run_flow
from prefect.flows import load_flow_from_entrypoint
from prefect.states import Pending

# not under "onboarding": that logger also sends to the API, which needs a flow run
log = logging.getLogger("ama.warm_runner")
# the flows that events start (the deployments with triggers in prefect.yaml)
DEFAULT_FLOWS = ("attach-node-pool", "check-node-pools", "application-event")


@dataclass
class WarmRunner:
    pool: str
    flow_names: frozenset[str]
    poll_s: float = 1.0
    slots: int = 4
    # deployment id -> its flow loaded here, or None when that deployment's flow is not one this runner serves
    _flows: dict[UUID, Flow[..., Any] | None] = field(default_factory=dict)
    _running: set[UUID] = field(default_factory=set)

    def preload(self, client: SyncPrefectClient) -> None:
        """Import every served flow before the first run (the point of a warm process)."""
        in_pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[self.pool]))
        for deployment in client.read_deployments(work_pool_filter=in_pool):
            self._flow_for(client, deployment.id)

    def _flow_for(self, client: SyncPrefectClient, deployment_id: UUID) -> Flow[..., Any] | None:
        if deployment_id not in self._flows:
            deployment = client.read_deployment(deployment_id)
            flow_name = client.read_flow(deployment.flow_id).name
            entrypoint = deployment.entrypoint if flow_name in self.flow_names else None
            self._flows[deployment_id] = _load(entrypoint) if entrypoint else None
            if entrypoint:
                log.info("warm runner serves %s (%s)", flow_name, entrypoint)
        return self._flows[deployment_id]

    def claim(self, client: SyncPrefectClient) -> list[tuple[Flow[..., Any], UUID]]:
        """The due runs of served flows that this runner won (Pending accepted)."""
        free = self.slots - len(self._running)
        claimed: list[tuple[Flow[..., Any], UUID]] = []
        due = client.get_scheduled_flow_runs_for_work_pool(self.pool, scheduled_before=datetime.now(UTC))
        for response in due:  # not later ones: a run awaiting its retry is Scheduled in the future
            run = response.flow_run
            flow = self._flow_for(client, run.deployment_id) if run.deployment_id else None
            if flow is None or len(claimed) >= free:
                continue
            if client.set_flow_run_state(run.id, Pending()).status == SetStateStatus.ACCEPT:
                claimed.append((flow, run.id))
        return claimed

    def serve(self) -> None:
        wake = threading.Event()
        threading.Thread(target=_wake_on_scheduled, args=(wake,), daemon=True).start()
        with get_client(sync_client=True) as client, ThreadPoolExecutor(self.slots) as executor:
            self.preload(client)
            log.info("warm runner polling pool %s every %g s and on Scheduled events", self.pool, self.poll_s)
            while True:
                wake.clear()  # before claiming: an announcement during the claim wakes the next round at once
                for flow, run_id in self.claim(client):
                    self._running.add(run_id)
                    executor.submit(self._execute, flow, client.read_flow_run(run_id))
                wake.wait(self.poll_s)

    def _execute(self, flow: Flow[..., Any], flow_run: FlowRun) -> None:
        try:
            run_flow(flow, flow_run=flow_run, return_type="state")
        except BaseException:  # the engine has already recorded the run's final state
            log.exception("flow run %s ended with an error", flow_run.id)
        finally:
            self._running.discard(flow_run.id)


@functools.cache
def _load(entrypoint: str) -> Flow[..., Any]:
    """Once per entrypoint (deployments of one flow share it)."""
    return load_flow_from_entrypoint(entrypoint)


def _wake_on_scheduled(wake: threading.Event) -> None:
    """Set ``wake`` on every ``prefect.flow-run.Scheduled`` event; reconnects for ever (the poll covers gaps)."""

    async def listen() -> None:
        scheduled = EventFilter(event=EventNameFilter(name=["prefect.flow-run.Scheduled"]))
        async with get_events_subscriber(filter=scheduled) as subscriber:
            async for _ in subscriber:
                wake.set()

    while True:
        try:
            asyncio.run(listen())
        except Exception as exc:
            log.warning("events subscription lost (%s); polling only until it is back", type(exc).__name__)
        time.sleep(5.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.warm_runner", description=__doc__)
    parser.add_argument("--pool", default="ama-onboarding", help="work pool to take runs from")
    parser.add_argument("--flows", default=",".join(DEFAULT_FLOWS), help="comma-separated flow names")
    parser.add_argument(
        "--poll", type=float, default=1.0, help="seconds between polls (events wake it sooner)"
    )
    parser.add_argument("--slots", type=int, default=4, help="runs at once")
    args = parser.parse_args(argv)
    log.setLevel(logging.INFO)  # Prefect's console handler on the root logger prints it
    names = frozenset(name for name in args.flows.split(",") if name)
    WarmRunner(args.pool, names, poll_s=args.poll, slots=args.slots).serve()


if __name__ == "__main__":
    main()
