"""Failures retrying cannot fix stop early, say what to do, and cost a bounded, counted number of attempts:
node resource group lockdown, a 403 that outlives the propagation budget, a missing application with adopt_only,
and a chart version the repository does not have. Each runs the steps under the task retry policy
(tests/chaos/fleet.py), which must spend no retry on them."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from onboarding.context import CustomerContext
from onboarding.errors import AuthorizationPendingError, PermanentError
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.settings import Settings
from sandbox.client import SandboxProcess
from tools.customers import register_customer
from tools.fleet_catalog import customer_document

from .fleet import Tally, onboard

pytestmark = [pytest.mark.chaos, pytest.mark.xdist_group("chaos")]

BUDGET_S = 3.0
POLL_S = 0.2


def _spec(index: int, **changes: Any) -> CustomerSpec:
    doc = customer_document(index, tenants=5)
    assert doc["managed_application"].get("adopt_only"), "an adopted (Marketplace) shape: deployed at once"
    doc.update(changes)
    return load_customer_spec(doc)


def _fail(
    box: SandboxProcess, spec: CustomerSpec, **settings: Any
) -> tuple[PermanentError, list[dict[str, Any]]]:
    """Onboard under the retry policy; returns the error and the ARM requests it made. No retry may be spent."""
    tally = Tally()
    ctx = CustomerContext(spec, Settings(**settings))
    mark = box.mark()
    with pytest.raises(PermanentError) as info:
        onboard(ctx, tally=tally, rng=random.Random(spec.name))
    assert tally.total == 0, f"the policy retried a permanent failure: {tally.retries}"
    assert not isinstance(info.value, AuthorizationPendingError)
    return info.value, box.requests_log(since=mark)


def _count(log: list[dict[str, Any]], method: str, path: str, status: int | None = None) -> int:
    return sum(
        1
        for e in log
        if e["method"] == method and re.search(path, e["path"], re.I) and status in (None, e["status"])
    )


def test_node_resource_group_lockdown_stops_at_the_first_refused_write(chaos_box: SandboxProcess) -> None:
    spec = _spec(302)
    register_customer(chaos_box, spec)
    node_rg = f"/subscriptions/{spec.subscription_id}/resourceGroups/{spec.managed_application.parameters.node_resource_group}"
    chaos_box.lockdown(node_rg)
    try:
        error, log = _fail(chaos_box, spec)
    finally:
        chaos_box.lockdown(node_rg, locked=False)
    assert error.step == "attach_identities" and error.code == "DenyAssignmentAuthorizationFailed"
    assert "lift the node resource group lockdown" in str(error), str(error)
    assert _count(log, "PATCH", r"/virtualMachineScaleSets/[^/]+$") == 1, "one refused write, no retry"


def test_403_past_the_propagation_budget_becomes_permanent(chaos_box: SandboxProcess) -> None:
    """The publisher holds no role on the node resource group: reading its scale sets is refused for good."""
    spec = _spec(305, credential_source="publisher")
    register_customer(chaos_box, spec)
    error, log = _fail(
        chaos_box, spec, propagation_budget_s=BUDGET_S, poll_interval_s=POLL_S, retry_max_delay_s=1.0
    )
    assert error.step == "discover_cluster" and error.status == 403
    assert f"still refused after the {BUDGET_S:g} s propagation budget" in str(error)
    assert "only the application's template (a new version) or the customer can grant it" in str(error), str(
        error
    )
    refused = _count(log, "GET", r"/virtualMachineScaleSets$", 403)
    print(f"\nfigure permanent_403_tries {refused} within {BUDGET_S:g} s, then PermanentError")
    # no wait is shorter than the poll interval less its jitter (0.8): the tries are bounded by the budget
    assert 2 <= refused <= BUDGET_S / (0.8 * POLL_S) + 2, f"{refused} tries within the {BUDGET_S:g} s budget"
    assert _count(log, "GET", r"/virtualMachineScaleSets$") == refused


def test_missing_application_with_adopt_only_is_reported_not_created(chaos_box: SandboxProcess) -> None:
    spec = _spec(308)
    chaos_box.add_customer(  # the tenant and subscription exist; the customer never deployed the application
        name=spec.name, tenant_id=spec.tenant_id, subscription_id=spec.subscription_id, location=spec.location
    )
    error, log = _fail(chaos_box, spec)
    assert error.step == "ensure_managed_app"
    assert "does not exist and the spec says adopt_only" in str(error)
    assert "ask the customer to deploy it (Marketplace) or clear adopt_only" in str(error)
    assert [(e["method"], e["status"]) for e in log] == [("GET", 404)], "one read, no write, no retry"


def test_chart_version_not_in_the_repository_is_permanent(chaos_box: SandboxProcess) -> None:
    spec = _spec(
        311,
        pod_identity={"mode": "aad-pod-identity-managed", "namespace": "default"},
        chart={"version": "9.9.9"},
    )
    register_customer(chaos_box, spec)
    error, log = _fail(chaos_box, spec)
    assert error.step == "install_pod_identity"
    assert "chart aad-pod-identity version 9.9.9 not found" in str(error), str(error)
    assert "check chart.repository/version" in str(error)
    assert _count(log, "POST", r"/listClusterUserCredential$") == 1, "one attempt at the install step"
