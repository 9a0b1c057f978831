"""The warm runner with a real server: an event's attach-node-pool run runs in the long-lived process (no new
Python process), the identity gets attached, and the process worker takes the pool's runs again afterwards."""

from __future__ import annotations

import time

import pytest
from prefect import get_client
from prefect.client.schemas.objects import FlowRun

from onboarding.catalog import find_customer
from sandbox.client import SandboxProcess
from tools.cloud_actions import VMSS_TYPE, add_agent_pool, scale_set_identities, wait_for
from tools.customers import register_customer
from tools.stack import FINAL_STATES, PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

APP_IDENTITY = "/northwindaks-identity"


def _vmss_id(sandbox: SandboxProcess, name: str) -> str:
    return next(
        r["id"]
        for r in sandbox.state()["resources"]
        if r.get("type", "").lower() == VMSS_TYPE and r["name"] == name
    )


def _finished_runs(prefect_stack: PrefectStack, event_ids: list[str]) -> dict[str, list[FlowRun]]:
    """The attach-node-pool runs of each event, once every event has a finished one."""
    with prefect_stack.settings(), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("attach-node-pool/on-event").id
        found: dict[str, list[FlowRun]] = {}

        def all_finished() -> bool:
            runs = [r for r in client.read_flow_runs(limit=100) if r.deployment_id == deployment]
            found.update({e: [r for r in runs if r.parameters.get("event_id") == e] for e in event_ids})
            finished = [
                [bool(r.state and r.state.type.value in FINAL_STATES) for r in found[e]] for e in event_ids
            ]
            return all(runs and all(runs) for runs in finished)

        wait_for(all_finished, timeout_s=120)
        return found


def test_event_runs_run_in_the_warm_runner(sandbox: SandboxProcess, prefect_stack: PrefectStack) -> None:
    """Two events at once (the new pool and the existing one): two runs side by side in the warm runner."""
    spec = find_customer("northwind")
    register_customer(sandbox, spec)
    onboarded = prefect_stack.run_deployments(["onboard-customer/northwind"])["onboard-customer/northwind"]
    assert onboarded.state.is_completed(), onboarded.state.message
    add_agent_pool(sandbox, spec, "warm")
    names = sorted(scale_set_identities(sandbox, spec))
    new = next(n for n in names if n.startswith("aks-warm-"))
    for worker in list(
        prefect_stack.workers
    ):  # only the warm runner polls the pool: who runs them is certain
        prefect_stack.stop_runner(worker)
    runner = prefect_stack.start_warm_runner()
    try:
        started = time.monotonic()
        event_ids = [
            prefect_stack.post_event(
                "aks.nodepool.created",
                {
                    "prefect.resource.id": f"aks.nodepool.northwind.{name}",
                    "customer.id": "northwind",
                    "azure.vmss.id": _vmss_id(sandbox, name),
                },
            )[0]
            for name in names
        ]
        wait_for(
            lambda: any(i.endswith(APP_IDENTITY) for i in scale_set_identities(sandbox, spec)[new]),
            timeout_s=120,
        )
        print(f"\nfigure warm_event_to_identity {time.monotonic() - started:.1f} s")
        found = _finished_runs(prefect_stack, event_ids)
    finally:
        prefect_stack.stop_runner(runner)
        prefect_stack.start_worker()
    for event_id in event_ids:
        assert len(found[event_id]) == 1, found[event_id]  # one run per event
        run = found[event_id][0]
        assert run.state and run.state.is_completed(), run.state.message if run.state else None
        assert "prefect.worker.name" not in (run.labels or {})  # no process worker submitted it
