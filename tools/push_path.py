"""The push path driven as Azure drives it, for the e2e tests, the bench and the demo: a node pool added through
ARM (Event Grid tells the receiver), a Marketplace purchase (the plan's notification endpoint tells it)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx

from onboarding.context import CustomerContext
from onboarding.models import CustomerSpec
from onboarding.settings import Settings
from onboarding.steps.managed_app import ensure_managed_app
from sandbox.client import SandboxProcess

from .cloud_actions import add_agent_pool, scale_set_identities, wait_for


def attached(box: SandboxProcess, spec: CustomerSpec, pool: str) -> bool:
    """Whether node pool ``pool``'s scale set carries the customer's identity."""
    identity = f"/{spec.managed_application.parameters.aks_name.lower()}-identity"
    return any(
        name.startswith(f"aks-{pool}-") and any(i.endswith(identity) for i in ids)
        for name, ids in scale_set_identities(box, spec).items()
    )


def pool_reaction(box: SandboxProcess, spec: CustomerSpec, pool: str, *, timeout_s: float = 300.0) -> float:
    """Add ``pool`` through ARM; seconds from the pool being ready (its operation ended) to its identity."""
    ready = add_agent_pool(box, spec, pool)
    wait_for(lambda: attached(box, spec, pool), timeout_s=timeout_s, interval_s=0.1)
    return time.time() - ready


@contextlib.contextmanager
def plan_notifications(box: SandboxProcess, plan: dict[str, Any], uri: str) -> Iterator[None]:
    """The Marketplace plan's notification endpoint is ``uri`` for the block (Partner Center's setting in Azure)."""
    endpoint = {"publisher": plan["publisher"], "product": plan["product"], "plan": plan["name"]}
    box.admin("PUT", "/marketplace/notification-endpoint", {**endpoint, "uri": uri})
    try:
        yield
    finally:
        box.admin("DELETE", f"/marketplace/notification-endpoint?{urlencode(endpoint)}")


def purchase(spec: CustomerSpec, settings: Settings) -> float:
    """The customer buys the plan: the application PUT (made with the product's own call) until it is deployed;
    returns its seconds."""
    started = time.monotonic()
    ensure_managed_app(CustomerContext(spec, settings))
    return time.monotonic() - started


def onboard_runs(api_url: str, customer: str, state: str = "COMPLETED") -> list[dict[str, Any]]:
    """The customer's onboard-customer runs in ``state``."""
    query = {"flow_runs": {"name": {"like_": f"onboard-{customer}%"}}, "limit": 20}
    with httpx.Client(base_url=api_url, timeout=30) as http:
        runs = http.post("/flow_runs/filter", json=query).json()
    return [r for r in runs if r["state"]["type"] == state]
