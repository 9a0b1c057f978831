"""The watcher's events through the real server and worker: after an onboarding and a quiet watch run, an AKS
upgrade is reported as ``aks.nodepool.drifted`` (never ``created``) and an agent pool added through ARM as
``aks.nodepool.created``, with the labels the attach-node-pool trigger reads."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from onboarding.catalog import find_customer
from onboarding.models import CustomerSpec
from onboarding.watch import CREATED, DRIFTED
from sandbox.client import SandboxProcess
from tools.cloud_actions import add_agent_pool, cluster_id, wait_for
from tools.customers import register_customer
from tools.stack import PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

WATCH = "watch-node-pools/safety-net"
CUSTOMER = "northwind"


@pytest.fixture(scope="module")
def northwind(sandbox: SandboxProcess, prefect_stack: PrefectStack) -> CustomerSpec:
    spec = find_customer(CUSTOMER)
    register_customer(sandbox, spec)
    name = f"onboard-customer/{CUSTOMER}"
    run = prefect_stack.run_deployments([name])[name]
    assert run.state.is_completed(), run.state.message
    return spec


def _watch(stack: PrefectStack) -> None:
    """One watch run for this customer (the schedule may add its own: they read and keep the same state)."""
    run = stack.run_deployments([WATCH], parameters={"customers": [CUSTOMER]})[WATCH]
    assert run.state.is_completed(), run.state.message


def _kinds(events: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(event, pool name) of each event: aks-<pool>-<n>-vmss."""
    return {(e["event"], e["resource"]["prefect.resource.name"].split("-")[1]) for e in events}


def _events(stack: PrefectStack, since: float) -> list[dict[str, Any]]:
    """The watcher's events about this customer's node pools since ``since``."""
    occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - 1))
    query = {
        "filter": {
            "occurred": {"since": occurred},
            "event": {"prefix": ["aks.nodepool."]},
            "resource": {"id_prefix": [f"aks.nodepool.{CUSTOMER}."]},
        },
        "limit": 50,
    }
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        return list(http.post("/events/filter", json=query).json().get("events") or [])


def test_upgrade_after_a_quiet_tick_is_drift_and_a_new_pool_is_created(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, northwind: CustomerSpec
) -> None:
    onboarded = time.time()
    _watch(prefect_stack)
    _watch(prefect_stack)
    assert _events(prefect_stack, onboarded) == [], "quiet ticks right after onboarding"

    upgraded = time.time()
    sandbox.upgrade_cluster(cluster_id(northwind))
    _watch(prefect_stack)
    wait_for(lambda: (DRIFTED, "nodepool1") in _kinds(_events(prefect_stack, upgraded)), timeout_s=30)

    add_agent_pool(sandbox, northwind, "spot")
    _watch(prefect_stack)
    wait_for(lambda: (CREATED, "spot") in _kinds(_events(prefect_stack, upgraded)), timeout_s=30)

    events = _events(prefect_stack, upgraded)
    kinds = _kinds(events)
    assert (CREATED, "nodepool1") not in kinds, "an upgraded pool is never reported as new"
    drifted = next(e for e in events if e["event"] == DRIFTED)
    assert drifted["resource"]["customer.id"] == CUSTOMER
    assert (
        drifted["resource"]["azure.vmss.id"]
        .lower()
        .startswith(
            f"/subscriptions/{northwind.subscription_id}/resourcegroups/{CUSTOMER}-ama-aks-rg/".lower()
        )
    )
    assert drifted["payload"]["missing"], "the identities it lacks"
