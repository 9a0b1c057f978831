"""The warm runner with a real server: an event's attach-node-pool run runs in the long-lived process (no new
Python process), the identity gets attached, and the process worker takes the pool's runs again afterwards."""

from __future__ import annotations

import time

import pytest
from prefect import get_client

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


def test_event_run_runs_in_the_warm_runner(sandbox: SandboxProcess, prefect_stack: PrefectStack) -> None:
    spec = find_customer("northwind")
    register_customer(sandbox, spec)
    onboarded = prefect_stack.run_deployments(["onboard-customer/northwind"])["onboard-customer/northwind"]
    assert onboarded.state.is_completed(), onboarded.state.message
    add_agent_pool(sandbox, spec, "warm")
    name = next(n for n in scale_set_identities(sandbox, spec) if n.startswith("aks-warm-"))
    workers = list(prefect_stack.workers)
    for worker in workers:  # only the warm runner polls the pool: who takes the run is then certain
        prefect_stack.stop_runner(worker)
    runner = prefect_stack.start_warm_runner()
    try:
        resource = {
            "prefect.resource.id": f"aks.nodepool.northwind.{name}",
            "customer.id": "northwind",
            "azure.vmss.id": _vmss_id(sandbox, name),
        }
        started = time.monotonic()
        event_id, _ = prefect_stack.post_event("aks.nodepool.created", resource)
        wait_for(
            lambda: any(i.endswith(APP_IDENTITY) for i in scale_set_identities(sandbox, spec)[name]),
            timeout_s=120,
        )
        print(f"\nfigure warm_event_to_identity {time.monotonic() - started:.1f} s")
        with prefect_stack.settings(), get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("attach-node-pool/on-event")
            runs = [r for r in client.read_flow_runs(limit=50) if r.parameters.get("event_id") == event_id]
            assert [r.deployment_id for r in runs] == [deployment.id]
            wait_for(lambda: client.read_flow_run(runs[0].id).state.type.value in FINAL_STATES, timeout_s=60)
            run = client.read_flow_run(runs[0].id)
        assert run.state and run.state.is_completed(), run.state.message if run.state else None
        assert "prefect.worker.name" not in (run.labels or {})  # no process worker submitted it
    finally:
        prefect_stack.stop_runner(runner)
        prefect_stack.start_worker()
