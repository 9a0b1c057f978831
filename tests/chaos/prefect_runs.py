"""The Prefect calls the chaos suite makes against its stack: runs of the fleet deployment (optionally on a work
queue of their own), their states, and the task runs a kill interrupted."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.states import Crashed

from onboarding.models import CustomerSpec
from tools.stack import FINAL_STATES, PrefectStack

FLEET_DEPLOYMENT = "onboard-customer/fleet"


@contextlib.contextmanager
def prefect_client(stack: PrefectStack) -> Iterator[SyncPrefectClient]:
    """A client of the stack's API for this thread (settings are per thread context)."""
    with stack.settings(), get_client(sync_client=True) as client:
        yield client


def create_run(client: SyncPrefectClient, spec: CustomerSpec, queue: str | None = None) -> UUID:
    """A run of the fleet deployment with this catalog customer, as the UI's Run button or reconcile-fleet makes
    it; ``queue``: a work queue of the pool (created on demand) so that only one chosen worker picks the run up."""
    deployment = client.read_deployment_by_name(FLEET_DEPLOYMENT)
    parameters = {"customer": spec.name}
    return client.create_flow_run_from_deployment(
        deployment.id, parameters=parameters, work_queue_name=queue
    ).id


def run_state(client: SyncPrefectClient, run_id: UUID) -> tuple[str, str]:
    state = client.read_flow_run(run_id).state
    return (state.type.value, state.message or "") if state else ("", "")


def wait_for_state(client: SyncPrefectClient, run_id: UUID, wanted: set[str], *, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state, message = run_state(client, run_id)
        if state in wanted:
            return state
        if state in FINAL_STATES:
            raise AssertionError(f"flow run {run_id} ended {state}: {message}")
        time.sleep(0.5)
    raise TimeoutError(f"flow run {run_id} not in {wanted} within {timeout_s:g} s")


def task_states(client: SyncPrefectClient, run_id: UUID) -> dict[str, str]:
    """Task run name -> state type, as far as the server knows: task run states travel as events, so after a
    SIGKILL the last transitions may never have arrived."""
    tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    return {t.name: t.state.type.value for t in tasks if t.state}


def mark_crashed(client: SyncPrefectClient, run_id: UUID) -> None:
    """What Prefect shows once it knows the worker died (it has no heartbeat to notice by itself here)."""
    client.set_flow_run_state(
        run_id, Crashed(message="worker killed with SIGKILL by a crash trial"), force=True
    )
