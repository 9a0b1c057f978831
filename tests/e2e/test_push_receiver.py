"""The push path with every part real: the sandbox's Event Grid and managed application notifications deliver to the
receiver (``python -m receiver``), which forwards Prefect events; the server's triggers start the flows on the
worker. A new agent pool gets its identity, duplicated and reordered deliveries start one run, deliveries made
while the receiver is down arrive through Event Grid's retries, and a Marketplace purchase of a catalog customer
is onboarded to verified with no human step."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from onboarding.context import CustomerContext
from onboarding.models import CustomerSpec
from onboarding.pipeline import run_onboarding
from onboarding.settings import Settings
from sandbox.client import SandboxProcess
from tests.integration.adopted import MARKETPLACE_PLAN, adopted_spec
from tools.cloud_actions import add_agent_pool, wait_for
from tools.customers import register_customer
from tools.push_path import attached, onboard_runs, plan_notifications, pool_reaction, purchase
from tools.receiver_process import Receiver
from tools.stack import PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

KEY = "egkey-" + uuid.uuid4().hex
SIG = "sig-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def receiver(
    prefect_stack: PrefectStack, worker_catalog: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Receiver]:
    work = tmp_path_factory.mktemp("receiver")
    running = Receiver(work, api_url=prefect_stack.api_url, catalog=worker_catalog, key=KEY, sig=SIG).start()
    yield running
    running.stop()


def _add_to_catalog(catalog: Path, spec: CustomerSpec) -> None:
    (catalog / f"{spec.name}.yaml").write_text(
        yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True))
    )


def _product_settings(receiver: Receiver) -> Settings:
    return Settings(receiver_public_url=receiver.url, receiver_eventgrid_key=KEY)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def subscribed(sandbox: SandboxProcess, receiver: Receiver, worker_catalog: Path) -> CustomerSpec:
    """An onboarded customer whose managed resource group's writes reach the receiver (onboarding's own step made
    the subscription)."""
    spec = adopted_spec("pushloop")
    register_customer(sandbox, spec)
    _add_to_catalog(worker_catalog, spec)
    results, _ = run_onboarding(CustomerContext(spec, _product_settings(receiver)), dry_run=False)
    subscription = next(r for r in results if r.step == "ensure_event_subscriptions")
    assert subscription.changed, subscription
    return spec


def _attach_runs(stack: PrefectStack, spec: CustomerSpec, pool: str) -> list[dict[str, Any]]:
    query = {"flow_runs": {"name": {"like_": f"attach-{spec.name}-%"}}, "limit": 200}
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        runs = http.post("/flow_runs/filter", json=query).json()
    return [
        r
        for r in runs
        if f"/agentPools/{pool}".lower() in str(r["parameters"].get("agent_pool_id", "")).lower()
    ]


def test_a_new_agent_pool_is_attached_through_event_grid_and_the_receiver(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, subscribed: CustomerSpec
) -> None:
    seconds = pool_reaction(sandbox, subscribed, "pushed")
    print(f"\nfigure push_agent_pool_ready_to_identity {seconds:.1f} s")
    wait_for(lambda: _attach_runs(prefect_stack, subscribed, "pushed"), what="the attach run")
    assert len(_attach_runs(prefect_stack, subscribed, "pushed")) == 1


def test_duplicated_and_reordered_deliveries_start_one_run(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, subscribed: CustomerSpec
) -> None:
    sandbox.admin("POST", "/eventgrid/chaos", {"duplicate": True, "reorder": True})
    try:
        pool_reaction(sandbox, subscribed, "twice")
    finally:
        sandbox.admin("DELETE", "/eventgrid/chaos")
    time.sleep(3)  # a duplicate arriving late would start its run by now
    deliveries = sandbox.admin("GET", "/eventgrid/deliveries")
    assert len(_attach_runs(prefect_stack, subscribed, "twice")) == 1, deliveries


def test_deliveries_while_the_receiver_is_down_arrive_by_event_grid_retries(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, receiver: Receiver, subscribed: CustomerSpec
) -> None:
    failed_before = len(_failed_deliveries(sandbox))
    receiver.stop()
    try:
        add_agent_pool(sandbox, subscribed, "offline")
        wait_for(
            lambda: len(_failed_deliveries(sandbox)) > failed_before,
            what="a delivery failing while the receiver is down",
        )
        assert not attached(sandbox, subscribed, "offline")
    finally:
        receiver.start()
    wait_for(lambda: attached(sandbox, subscribed, "offline"), timeout_s=240, what="the retried delivery")
    assert len(_attach_runs(prefect_stack, subscribed, "offline")) == 1


def _failed_deliveries(box: SandboxProcess) -> list[dict[str, Any]]:
    attempts = box.admin("GET", "/eventgrid/deliveries")
    rows = attempts.get("deliveries", attempts) if isinstance(attempts, dict) else attempts
    return [a for a in rows if not (200 <= int(a.get("status") or 0) < 300)]


def test_a_marketplace_purchase_of_a_catalog_customer_is_onboarded_to_verified(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, receiver: Receiver, worker_catalog: Path
) -> None:
    """The customer buys the plan (the application PUT, here made with the product's own call); the plan's
    notification endpoint is the receiver; no one starts anything by hand."""
    spec = adopted_spec("purchase", adopt_only=False)
    register_customer(sandbox, spec)
    _add_to_catalog(worker_catalog, spec)
    with plan_notifications(sandbox, MARKETPLACE_PLAN, f"{receiver.url}/notifications?sig={SIG}"):
        deployed = purchase(spec, Settings())
        notified = time.monotonic()
        runs = wait_for(
            lambda: onboard_runs(prefect_stack.api_url, spec.name), timeout_s=300, what="onboarding"
        )
    verified = time.monotonic() - notified
    print(f"\nfigure purchase_to_verified {deployed + verified:.1f} s (deployment {deployed:.1f} s)")
    assert len(runs) == 1 and runs[0]["parameters"]["customer"] == spec.name
    notifications = sandbox.admin("GET", "/notifications")
    assert SIG not in str(notifications)
