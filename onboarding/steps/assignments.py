"""Reconcile a set of role assignments: read what exists at each scope, create only what is missing; and delete
assignments the product proved it made (audit, offboarding).

An equivalent assignment under another name (made by the template or by hand) counts as present; a 409
``RoleAssignmentExists`` too. Writes retry PrincipalNotFound/authorization propagation within the budget.

Every read and delete names the customer's tenant (``tenantId``): Microsoft.Authorization answers from the
tenant of the token otherwise, and a publisher token from its home tenant would find nothing at the customer's
scopes (an empty list, a 404, a DELETE that deletes nothing). The seed README's "Publisher can Read and Delete
Cross-Tenant Role Assignments" passes it; naming it is harmless when the token is the customer tenant's.
"""

from __future__ import annotations

from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignment

from ..azure import roles
from ..azure.roles import DesiredAssignment
from ..context import CustomerContext
from ..errors import PermanentError
from . import StepRecorder


def read_assignments(
    ctx: CustomerContext,
    rec: StepRecorder,
    client: AuthorizationManagementClient,
    scopes: list[str],
    *,
    step: str,
) -> dict[str, list[RoleAssignment]]:
    """Scope (lower case) -> the assignments ``atScope()`` there (customer tenant), retried while access propagates."""
    existing: dict[str, list[RoleAssignment]] = {}
    for scope in scopes:

        def read(scope: str = scope) -> list[RoleAssignment]:
            with ctx.errors(step, f"list role assignments at {scope}"):
                return roles.list_at_scope(client, scope, tenant_id=ctx.spec.tenant_id)

        existing[scope.lower()], waited = ctx.through_propagation(
            read,
            what=f"read access to role assignments at {scope}",
            hint="the credential holds no role at this scope: the publisher's comes back with refresh_permissions, the "
            "application identity's only with a template (version) that grants it",
        )
        rec.waited(waited)
    return existing


def ensure_assignments(
    ctx: CustomerContext,
    rec: StepRecorder,
    desired: list[DesiredAssignment],
    *,
    step: str,
    node_rg: bool,
    cannot_write: str | None = None,
) -> list[DesiredAssignment]:
    """Create the missing ones (unless dry run) as the publisher or the node-RG credential; returns those created.

    ``cannot_write``: why the credential can never create assignments here (fail at once instead of waiting).
    """
    client = ctx.client(AuthorizationManagementClient, node_rg=node_rg)
    scopes = list(dict.fromkeys(d.scope for d in desired))
    existing = read_assignments(ctx, rec, client, scopes, step=step)
    delegated = ctx.spec.managed_application.parameters.cross_tenant
    created: list[DesiredAssignment] = []
    for want in desired:
        if any(want.matches(a) for a in existing[want.scope.lower()]):
            rec.unchanged(want.describe())
            continue
        what = f"role assignment {want.name}: {want.describe()}"
        if rec.dry_run:
            rec.changed(f"created {what}", f"create {what}")
            continue
        if cannot_write:
            raise PermanentError(
                f"missing role assignment: {want.describe()}; {cannot_write}",
                customer=ctx.spec.name,
                step=step,
                hint="the application's template makes this assignment: deploy a template version that makes it (refresh_"
                "permissions re-applies only the publisher's authorizations), or ask the customer to grant it",
            )

        def put(want: DesiredAssignment = want) -> bool:
            with ctx.errors(step, f"create role assignment {want.describe()}"):
                return roles.create(
                    client, want, subscription_id=ctx.spec.subscription_id, delegated=delegated
                )

        made, waited = ctx.through_propagation(
            put,
            what=f"create {want.describe()}",
            hint=f"the credential may not assign roles at {want.scope} (it needs Owner or User Access Administrator "
            "there): deploy a template version that makes this assignment, or ask the customer to grant it "
            "(refresh_permissions re-applies only the publisher's authorizations)",
        )
        rec.waited(waited)
        if made:
            rec.changed(f"created {what}", f"create {what}")
            created.append(want)
        else:
            rec.unchanged(f"{want.describe()} (exists under another name)")
    return created


def delete_assignments(
    ctx: CustomerContext,
    rec: StepRecorder,
    client: AuthorizationManagementClient,
    doomed: list[RoleAssignment],
    *,
    names: dict[str, str],
    where: str,
) -> None:
    """Delete ``doomed`` (unless dry run), cross-tenant; the caller proved each is ours (``roles.provably_ours``).

    ``names``: principal id -> identity name; ``where``: the scope's label, for the sentences.
    """
    step = rec.result.step
    for assignment in doomed:
        what = f"role assignment {assignment.name}: {roles.describe_assignment(assignment, names, where)}"
        rec.changed(f"deleted {what}", f"delete {what}")
        if rec.dry_run:
            continue
        with ctx.errors(step, f"delete {what}"):
            roles.delete(client, assignment, tenant_id=ctx.spec.tenant_id)
