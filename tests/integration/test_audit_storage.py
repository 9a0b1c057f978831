"""The audit covers the Storage Blob Data Reader grant on the customer's storage account (the scope offboarding
deletes it from): expected present / missing, and unexpected ones there deleted only when provably ours."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

from onboarding.azure import roles
from onboarding.azure.roles import DesiredAssignment
from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.operations import audit
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from onboarding.steps.storage import ensure_storage_reader
from sandbox.client import SandboxProcess
from tools.customers import register_customer

from .adopted import adopted_spec

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("audit_storage")]

RA_LIST = "/providers/microsoft.authorization/roleassignments"
Adopted = tuple[CustomerContext, ClusterInfo]


@pytest.fixture(scope="module")
def granted(sandbox: SandboxProcess) -> Adopted:
    """An adopted Marketplace customer whose application identity holds Storage Blob Data Reader (as onboarding
    grants it)."""
    name = "auditstore"
    spec = adopted_spec(name, storage={"mode": "publisher"})
    register_customer(sandbox, spec)
    ctx = CustomerContext(spec, Settings(poll_interval_s=0.05, propagation_budget_s=30.0))
    cluster = discover_cluster(ctx)
    assert cluster.storage_account_id
    assert ensure_storage_reader(ctx, cluster).changed
    return ctx, cluster


def _storage_rows(report: Any, cluster: ClusterInfo) -> list[dict[str, str]]:
    where = f"storage account {cluster.storage_account_name}"
    return [r for r in report.details["rows"] if r["scope"] == where]


def test_the_storage_grant_is_expected_present_then_missing(
    sandbox: SandboxProcess, granted: Adopted
) -> None:
    ctx, cluster = granted
    account = str(cluster.storage_account_id)
    reader = DesiredAssignment(account, roles.STORAGE_BLOB_DATA_READER, cluster.app_identity, "storage")
    mark = sandbox.mark()
    report = audit.audit_role_assignments(ctx)
    lists = [
        e for e in sandbox.requests_log(mark) if e["method"] == "GET" and e["path"].lower().endswith(RA_LIST)
    ]
    assert account.lower() + RA_LIST in [e["path"].lower() for e in lists]
    assert all(e["query"].get("tenantId") == ctx.spec.tenant_id for e in lists)
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []
    assert _storage_rows(report, cluster) == [
        {
            "scope": f"storage account {cluster.storage_account_name}",
            "role": "Storage Blob Data Reader",
            "principal": f"identity {cluster.app_identity.name}",
            "assignment": reader.name,
            "status": audit.PRESENT,
            "action": "-",
        }
    ]

    publisher = ctx.client(AuthorizationManagementClient)
    held = next(
        a for a in roles.list_at_scope(publisher, account, tenant_id=ctx.spec.tenant_id) if reader.matches(a)
    )
    roles.delete(publisher, held, tenant_id=ctx.spec.tenant_id)
    (row,) = _storage_rows(audit.audit_role_assignments(ctx), cluster)
    assert (row["role"], row["status"], row["action"]) == (
        "Storage Blob Data Reader",
        audit.MISSING,
        audit.STORAGE_MISSING_ACTION,
    )
    assert ensure_storage_reader(ctx, cluster).changed  # put it back, as onboarding does


def test_unexpected_grants_on_the_account_are_deleted_only_when_provably_ours(
    sandbox: SandboxProcess, granted: Adopted
) -> None:
    ctx, cluster = granted
    account = str(cluster.storage_account_id)
    publisher = ctx.client(AuthorizationManagementClient)
    stray = DesiredAssignment(account, roles.READER, cluster.app_identity, "storage")
    assert roles.create(publisher, stray, subscription_id=ctx.spec.subscription_id, delegated=False)
    hand_made = str(uuid.uuid4())
    publisher.role_assignments.create(
        account,
        hand_made,
        RoleAssignmentCreateParameters(
            role_definition_id=roles.role_definition_id(
                ctx.spec.subscription_id, roles.STORAGE_BLOB_DATA_READER
            ),
            principal_id=cluster.kubelet_identity.principal_id,
            principal_type="ServicePrincipal",
        ),
    )
    rows = {r["assignment"]: r for r in _storage_rows(audit.audit_role_assignments(ctx), cluster)}
    assert (rows[stray.name]["status"], rows[stray.name]["action"]) == (audit.OURS, audit.WOULD)
    assert (rows[hand_made]["status"], rows[hand_made]["action"]) == (audit.NOT_OURS, audit.LEFT)

    mark = sandbox.mark()
    deleted = audit.audit_role_assignments(ctx, delete_unexpected=True)
    writes = [
        (e["method"], e["path"].rsplit("/", 1)[-1])
        for e in sandbox.requests_log(mark)
        if e["kind"] == "write"
    ]
    assert writes == [("DELETE", stray.name)]
    assert deleted.changed == [
        f"deleted role assignment {stray.name}: Reader for identity {cluster.app_identity.name} "
        f"on storage account {cluster.storage_account_name}"
    ]
    left = {a.name for a in roles.list_at_scope(publisher, account, tenant_id=ctx.spec.tenant_id)}
    assert hand_made in left and stray.name not in left

    # Without storage.grant_reader the product's reader grant is itself unexpected, and provably ours.
    no_grant = CustomerContext(
        ctx.spec.model_copy(update={"storage": ctx.spec.storage.model_copy(update={"grant_reader": False})}),
        ctx.settings,
    )
    rows = {r["assignment"]: r for r in _storage_rows(audit.audit_role_assignments(no_grant), cluster)}
    reader = DesiredAssignment(account, roles.STORAGE_BLOB_DATA_READER, cluster.app_identity, "storage")
    assert (rows[reader.name]["status"], rows[reader.name]["action"]) == (audit.OURS, audit.WOULD)
