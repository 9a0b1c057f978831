"""Audit the role assignments at the managed resource group and the node resource group against what onboarding
expects there (``steps.roles.expected_assignments``), read cross-tenant (``tenantId`` = the customer's tenant).

Each assignment made at those scopes is expected-and-present or unexpected; each expected one without an
assignment is missing. Unexpected ones are deleted only when asked, and only when provably this product's
(``roles.provably_ours``: the product's deterministic name for one of the customer's identities); every other
one is left and reported "left: not ours". Missing ones are reported, never created here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignment

from ..azure import roles
from ..azure.identities import same_id
from ..azure.roles import DesiredAssignment
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..results import StepResult
from ..steps import StepRecorder
from ..steps.assignments import delete_assignments, read_assignments
from ..steps.discover import discover_cluster
from ..steps.roles import expected_assignments, scope_label

STEP = "audit_role_assignments"
PRESENT, MISSING = "expected: present", "expected: missing"
OURS, NOT_OURS = "unexpected: ours", "unexpected: not ours"
LEFT = "left: not ours"
WOULD = "would delete (delete_unexpected)"
MISSING_ACTION = (
    "not created here: run onboard-customer (a template's assignment comes back only with a new deployment of the "
    "template; refresh-permissions restores the publisher's authorizations only)"
)
STORAGE_MISSING_ACTION = (
    "not created here: run onboard-customer (its storage step grants Storage Blob Data Reader when "
    "storage.grant_reader is set)"
)


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit table."""

    scope: str
    role: str
    principal: str
    assignment: str
    status: str
    action: str


def grant_scopes(cluster: ClusterInfo) -> list[tuple[str, bool]]:
    """(scope, read and write it with the node resource group credential) for every scope onboarding grants at:
    the managed and node resource groups, and the storage account when discovery found one."""
    storage = [(cluster.storage_account_id, False)] if cluster.storage_account_id else []
    return [(cluster.managed_resource_group_id, False), (cluster.node_resource_group_id, True), *storage]


def storage_expectation(ctx: CustomerContext, cluster: ClusterInfo) -> list[DesiredAssignment]:
    """The grant ``steps.storage.ensure_storage_reader`` makes, when the spec asks for it and there is an account."""
    if not (ctx.spec.storage.grant_reader and cluster.storage_account_id):
        return []
    account = cluster.storage_account_id
    label = scope_label(cluster, account)
    return [DesiredAssignment(account, roles.STORAGE_BLOB_DATA_READER, cluster.app_identity, label)]


def read_made_at(
    ctx: CustomerContext, rec: StepRecorder, scope: str, *, node_rg: bool
) -> tuple[AuthorizationManagementClient, list[RoleAssignment]]:
    """The client for ``scope`` and the assignments made exactly there, listed cross-tenant."""
    client = ctx.client(AuthorizationManagementClient, node_rg=node_rg)
    listed = read_assignments(ctx, rec, client, [scope], step=rec.result.step)
    return client, roles.made_at(listed[scope.lower()], scope)


def _row(assignment: RoleAssignment, names: dict[str, str], where: str, status: str, action: str) -> AuditRow:
    return AuditRow(
        scope=where,
        role=roles.role_label(roles.role_guid_of(assignment.role_definition_id or "")),
        principal=roles.principal_label(assignment.principal_id or "", names),
        assignment=str(assignment.name),
        status=status,
        action=action,
    )


def audit_role_assignments(ctx: CustomerContext, *, delete_unexpected: bool = False) -> StepResult:
    """Classify the assignments (see module doc); ``delete_unexpected`` deletes the unexpected ones that are ours.

    Without it nothing is written and the result lists what would be deleted.
    """
    rec = StepRecorder(ctx, STEP, dry_run=not delete_unexpected)
    cluster = discover_cluster(ctx)
    ctx = ctx.for_cluster(cluster)
    names = cluster.principal_names()
    expected = [*expected_assignments(ctx, cluster), *storage_expectation(ctx, cluster)]
    rows: list[AuditRow] = []
    for scope, node_rg in grant_scopes(cluster):
        where = scope_label(cluster, scope)
        client, found = read_made_at(ctx, rec, scope, node_rg=node_rg)
        here = [want for want in expected if same_id(want.scope, scope)]
        for want in here:
            match = next((a for a in found if want.matches(a)), None)
            if match is None:
                role, who = roles.role_label(want.role_guid), f"identity {want.principal.name}"
                action = (
                    STORAGE_MISSING_ACTION
                    if want.role_guid == roles.STORAGE_BLOB_DATA_READER
                    else MISSING_ACTION
                )
                rows.append(AuditRow(where, role, who, "-", MISSING, action))
            else:
                rec.unchanged(want.describe())
                rows.append(_row(match, names, where, PRESENT, "-"))
        ours: list[RoleAssignment] = []
        for assignment in found:
            if any(want.matches(assignment) for want in here):
                continue
            if roles.provably_ours(assignment, set(names)):
                ours.append(assignment)
                rows.append(_row(assignment, names, where, OURS, "deleted" if delete_unexpected else WOULD))
            else:
                rows.append(_row(assignment, names, where, NOT_OURS, LEFT))
        delete_assignments(ctx, rec, client, ours, names=names, where=where)
    counts = {status: sum(r.status == status for r in rows) for status in (PRESENT, MISSING, OURS, NOT_OURS)}
    return rec.finish(rows=[asdict(r) for r in rows], counts=counts)
