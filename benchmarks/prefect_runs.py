"""Starting deployment runs on the bench's Prefect stack and waiting for them (sync client, 0.2 s polling)."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.objects import FlowRun

from tools.stack import FINAL_STATES, PrefectStack


def start_run(stack: PrefectStack, deployment: str, parameters: dict[str, Any]) -> UUID:
    with stack.settings(), get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        return client.create_flow_run_from_deployment(found.id, parameters=parameters).id


def wait_run(stack: PrefectStack, run_id: UUID, *, timeout_s: float = 900.0) -> FlowRun:
    deadline = time.monotonic() + timeout_s
    with stack.settings(), get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if run.state and run.state.type.value in FINAL_STATES:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow run {run_id} not finished within {timeout_s:g} s")
            time.sleep(0.2)


def run_and_wait(stack: PrefectStack, deployment: str, parameters: dict[str, Any]) -> tuple[FlowRun, float]:
    """(final flow run, seconds from creation to a final state as seen here)."""
    started = time.monotonic()
    run = wait_run(stack, start_run(stack, deployment, parameters))
    if not (run.state and run.state.is_completed()):
        raise RuntimeError(f"{deployment} run {run.name}: {run.state.message if run.state else '?'}")
    return run, time.monotonic() - started


def pause_schedule(stack: PrefectStack, deployment: str) -> None:
    """No scheduled watcher runs during the bench: each tick is started by the bench right after a change."""
    with stack.settings(), get_client(sync_client=True) as client:
        client.set_deployment_paused_state(client.read_deployment_by_name(deployment).id, True)
