"""Template versions through the sandbox: a customer on each package version onboards to verified; from 1.2.0
the template grants Storage Blob Data Reader, so onboarding writes no storage role assignment; a Marketplace
customer on an older plan keeps the post-deployment grant and, moved forward by refresh-permissions, needs none."""

from __future__ import annotations

from typing import Any

import pytest

from onboarding.context import CustomerContext
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.operations.refresh import refresh_permissions
from onboarding.pipeline import run_onboarding
from onboarding.results import StepResult
from onboarding.settings import Settings
from sandbox.client import SandboxProcess
from sandbox.seed import APPLICATION_DEFINITION_ID, PREVIOUS_DEFINITION_ID
from tools.customers import register_customer

from .adopted import adopted_spec

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("template_versions")]

STORAGE_ASSIGNMENT = "/providers/microsoft.storage/storageaccounts/"


def _context(spec: CustomerSpec) -> CustomerContext:
    return CustomerContext(spec, Settings(poll_interval_s=0.05, propagation_budget_s=30.0))


def _service_catalog(name: str, definition_id: str) -> CustomerSpec:
    """A customer in aad-pod-identity standard mode (the kubelet identity needs roles too) whose service catalog
    application onboarding creates from ``definition_id``."""
    spec = adopted_spec(name, "aad-pod-identity-standard", adopt_only=False)
    doc: dict[str, Any] = spec.model_dump(mode="json", exclude_none=True)
    doc["managed_application"].pop("plan")
    doc["managed_application"]["definition_id"] = definition_id
    return load_customer_spec(doc)


def _onboard(box: SandboxProcess, ctx: CustomerContext) -> tuple[list[StepResult], list[str]]:
    """The onboarding's step results and its role assignment writes on the storage account."""
    mark = box.mark()
    steps, _ = run_onboarding(ctx, dry_run=False)
    writes = [
        w
        for w in box.arm_writes(mark, ctx.spec.subscription_id)
        if STORAGE_ASSIGNMENT in w.lower() and "roleassignments" in w.lower()
    ]
    return steps, writes


def _storage_step(steps: list[StepResult]) -> StepResult:
    return next(s for s in steps if s.step == "ensure_storage_reader")


@pytest.mark.parametrize(
    ("definition_id", "version", "template_grants"),
    [(APPLICATION_DEFINITION_ID, "1.2.0", True), (PREVIOUS_DEFINITION_ID, "1.1.0", False)],
    ids=["current", "previous"],
)
def test_a_service_catalog_customer_on_each_version_onboards_to_verified(
    sandbox: SandboxProcess, definition_id: str, version: str, template_grants: bool
) -> None:
    spec = _service_catalog(f"tplv{version.replace('.', '')}", definition_id)
    register_customer(sandbox, spec)
    steps, storage_writes = _onboard(sandbox, _context(spec))
    assert steps[-1].details["verified"] is True
    storage = _storage_step(steps)
    assert storage.details["template_version"] == version
    assert storage.details["template_grants"] is template_grants
    kubelet_grants = next(s for s in steps if s.step == "ensure_node_rg_roles").changed
    if template_grants:
        assert storage_writes == [], "the template granted Storage Blob Data Reader: onboarding only reads it"
        assert storage.details["created"] == []
        assert kubelet_grants == [], "the template granted the kubelet's Managed Identity Operator too"
    else:
        assert len(storage_writes) == 1
        assert storage.details["created"] == [storage.details["assignment"]]
        assert [c.split(": ", 1)[1] for c in kubelet_grants] == [
            f"Managed Identity Operator for identity {spec.managed_application.parameters.aks_name}-agentpool on "
            f"managed resource group {spec.managed_application.name}-mrg"
        ], kubelet_grants


def test_an_old_plan_customer_moved_forward_by_refresh_permissions_needs_no_grant(
    sandbox: SandboxProcess,
) -> None:
    spec = adopted_spec("tplvmove", "aad-pod-identity-managed")
    register_customer(sandbox, spec)
    ctx = _context(spec)
    steps, storage_writes = _onboard(sandbox, ctx)
    assert steps[-1].details["verified"] is True
    storage = _storage_step(steps)
    assert (storage.details["template_version"], storage.details["template_grants"]) == ("1.0.0", False)
    assert len(storage_writes) == 1, "an adopted customer on an old plan keeps the post-deployment grant"

    moved = refresh_permissions(ctx, target_version="1.2.0")
    assert moved.details["version"] == "1.2.0"

    steps, storage_writes = _onboard(sandbox, ctx)
    assert steps[-1].details["verified"] is True
    storage = _storage_step(steps)
    assert (storage.details["template_version"], storage.details["template_grants"]) == ("1.2.0", True)
    assert storage_writes == [] and storage.details["created"] == []
