"""Azure RBAC: built-in role ids, the product's deterministic assignment names, and reading/creating assignments.

``role_assignment_name`` is the one naming rule: audit and offboarding recompute it to prove an assignment is ours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignment, RoleAssignmentCreateParameters

from ..cluster import IdentityRef
from ..ids import ResourceId
from ..models import NodeRole

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
VIRTUAL_MACHINE_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

ROLE_NAMES = {
    OWNER: "Owner",
    CONTRIBUTOR: "Contributor",
    READER: "Reader",
    VIRTUAL_MACHINE_CONTRIBUTOR: "Virtual Machine Contributor",
    MANAGED_IDENTITY_OPERATOR: "Managed Identity Operator",
    STORAGE_BLOB_DATA_READER: "Storage Blob Data Reader",
    STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
}
NODE_ROLE_GUIDS = {
    NodeRole.OWNER: OWNER,
    NodeRole.CONTRIBUTOR: CONTRIBUTOR,
    NodeRole.VIRTUAL_MACHINE_CONTRIBUTOR: VIRTUAL_MACHINE_CONTRIBUTOR,
}

# Fixed forever: changing it would make every existing assignment look foreign to audit and offboarding.
ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("5f0c7a4e-2b1d-5e8a-9c3f-6d4b2a1e0f37")


def role_assignment_name(scope: str, role_definition_guid: str, principal_id: str) -> str:
    """The product's name for (scope, role, principal): uuid5, insensitive to case and a trailing slash."""
    material = "|".join((ResourceId(scope).key, role_definition_guid.lower(), principal_id.lower()))
    return str(uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, material))


def role_definition_id(subscription_id: str, role_guid: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def role_guid_of(definition_id: str) -> str:
    return ResourceId(definition_id).name.lower()


def role_label(role_guid: str) -> str:
    return ROLE_NAMES.get(role_guid.lower(), role_guid)


@dataclass(frozen=True)
class DesiredAssignment:
    """One role a principal must hold at a scope, and why."""

    scope: str
    role_guid: str
    principal: IdentityRef
    scope_label: str

    @property
    def name(self) -> str:
        return role_assignment_name(self.scope, self.role_guid, self.principal.principal_id)

    def describe(self) -> str:
        return f"{role_label(self.role_guid)} for identity {self.principal.name} on {self.scope_label}"

    def matches(self, assignment: RoleAssignment) -> bool:
        """Same scope, role and principal, whatever the assignment's name (the template may have made it)."""
        return (
            ResourceId(assignment.scope or "") == ResourceId(self.scope)
            and role_guid_of(assignment.role_definition_id or "") == self.role_guid.lower()
            and (assignment.principal_id or "").lower() == self.principal.principal_id.lower()
        )


def list_at_scope(
    client: AuthorizationManagementClient, scope: str, *, tenant_id: str | None = None
) -> list[RoleAssignment]:
    """Assignments made exactly at ``scope`` or above it (``$filter=atScope()``), all pages."""
    return list(client.role_assignments.list_for_scope(scope, filter="atScope()", tenant_id=tenant_id))


def made_at(assignments: list[RoleAssignment], scope: str) -> list[RoleAssignment]:
    """Those made exactly at ``scope`` (``atScope()`` also returns the ones inherited from above)."""
    wanted = ResourceId(scope)
    return [a for a in assignments if ResourceId(a.scope or "") == wanted]


def provably_ours(assignment: RoleAssignment, principal_ids: set[str]) -> bool:
    """Made by this product: its principal is one of the customer's identities (``principal_ids``, lower case)
    and its name is the product's deterministic name for its scope, role and principal."""
    principal = (assignment.principal_id or "").lower()
    expected = role_assignment_name(
        assignment.scope or "", role_guid_of(assignment.role_definition_id or ""), principal
    )
    return principal in principal_ids and (assignment.name or "").lower() == expected


def principal_label(principal_id: str, names: dict[str, str]) -> str:
    """'identity <name>' for one of ``names`` (principal id, lower case -> name), else 'principal <id>'."""
    principal = principal_id.lower()
    return f"identity {names[principal]}" if principal in names else f"principal {principal}"


def describe_assignment(assignment: RoleAssignment, names: dict[str, str], where: str) -> str:
    """'<role> for <identity or principal> on <where>', as DesiredAssignment.describe says it."""
    role = role_label(role_guid_of(assignment.role_definition_id or ""))
    return f"{role} for {principal_label(assignment.principal_id or '', names)} on {where}"


def delete(
    client: AuthorizationManagementClient, assignment: RoleAssignment, *, tenant_id: str | None
) -> None:
    """DELETE the assignment by scope and name (``tenantId`` for the cross-tenant call); gone already is fine."""
    client.role_assignments.delete(assignment.scope or "", assignment.name or "", tenant_id=tenant_id)


def create(
    client: AuthorizationManagementClient,
    desired: DesiredAssignment,
    *,
    subscription_id: str,
    delegated: bool,
) -> bool:
    """PUT the assignment under its deterministic name; False when the service says it already exists."""
    params = RoleAssignmentCreateParameters(
        role_definition_id=role_definition_id(subscription_id, desired.role_guid),
        principal_id=desired.principal.principal_id,
        principal_type="ServicePrincipal",
        delegated_managed_identity_resource_id=desired.principal.resource_id if delegated else None,
    )
    try:
        client.role_assignments.create(desired.scope, desired.name, params)
    except ResourceExistsError as exc:
        if getattr(exc.error, "code", None) == "RoleAssignmentExists":
            return False
        raise
    return True
