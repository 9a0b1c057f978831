"""Azure RBAC as the sandbox enforces it: built-in role definitions with their real ids and actions, and the
check "does this principal hold a role whose actions grant X at this scope or above, already propagated".
"""

from __future__ import annotations

import fnmatch
import time

from .state import RoleAssignment, RoleDefinition, World, key

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
VIRTUAL_MACHINE_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"

BUILTIN_ROLES: list[RoleDefinition] = [
    RoleDefinition(OWNER, "Owner", ["*"]),
    RoleDefinition(
        CONTRIBUTOR,
        "Contributor",
        ["*"],
        not_actions=[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
        ],
    ),
    RoleDefinition(READER, "Reader", ["*/read"]),
    RoleDefinition(
        USER_ACCESS_ADMINISTRATOR,
        "User Access Administrator",
        ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
    ),
    RoleDefinition(
        VIRTUAL_MACHINE_CONTRIBUTOR,
        "Virtual Machine Contributor",
        [
            "Microsoft.Authorization/*/read",
            "Microsoft.Compute/availabilitySets/*",
            "Microsoft.Compute/locations/*",
            "Microsoft.Compute/virtualMachines/*",
            "Microsoft.Compute/virtualMachineScaleSets/*",
            "Microsoft.Compute/disks/write",
            "Microsoft.Compute/disks/read",
            "Microsoft.Network/networkInterfaces/*",
            "Microsoft.Network/virtualNetworks/read",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Storage/storageAccounts/listKeys/action",
            "Microsoft.Storage/storageAccounts/read",
        ],
    ),
    RoleDefinition(
        MANAGED_IDENTITY_OPERATOR,
        "Managed Identity Operator",
        [
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Support/*",
        ],
    ),
    RoleDefinition(
        STORAGE_BLOB_DATA_READER,
        "Storage Blob Data Reader",
        [
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        data_actions=[f"{_BLOBS}/read"],
    ),
    RoleDefinition(
        STORAGE_BLOB_DATA_CONTRIBUTOR,
        "Storage Blob Data Contributor",
        [
            "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        data_actions=[
            f"{_BLOBS}/delete",
            f"{_BLOBS}/read",
            f"{_BLOBS}/write",
            f"{_BLOBS}/move/action",
            f"{_BLOBS}/add/action",
        ],
    ),
]

BLOB_READ = f"{_BLOBS}/read"


def role_definition_id(subscription_id: str, role_guid: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def _matches(pattern: str, action: str) -> bool:
    # As in Azure, "a/*/assign/action" also covers "a/assign/action" (the wildcard may be an empty segment).
    pattern, action = pattern.lower(), action.lower()
    return fnmatch.fnmatchcase(action, pattern) or fnmatch.fnmatchcase(action, pattern.replace("/*/", "/"))


def grants(role: RoleDefinition, action: str, *, data: bool = False) -> bool:
    allowed, denied = (role.data_actions, role.not_data_actions) if data else (role.actions, role.not_actions)
    return any(_matches(p, action) for p in allowed) and not any(_matches(p, action) for p in denied)


def scope_covers(assignment_scope: str, scope: str) -> bool:
    """True when an assignment at ``assignment_scope`` applies to ``scope`` (same scope or an ancestor)."""
    a, s = key(assignment_scope), key(scope)
    return s == a or s.startswith(a + "/") or a == "/"


def is_authorized(
    world: World, principal_id: str, action: str, scope: str, *, data: bool = False, now: float | None = None
) -> bool:
    """Whether ``principal_id`` may perform ``action`` on ``scope``, counting only propagated assignments."""
    now = time.time() if now is None else now
    with world.lock:
        for ra in world.role_assignments.values():
            if ra.principal_id.lower() != principal_id.lower() or ra.effective_at > now:
                continue
            if not scope_covers(ra.scope, scope):
                continue
            role = world.role_definitions.get(ra.role_guid)
            if role and grants(role, action, data=data):
                return True
    return False


def is_locked(world: World, scope: str) -> bool:
    """Node resource group lockdown: writes under a locked scope are denied to everyone but the platform."""
    with world.lock:
        return any(scope_covers(locked, scope) for locked in world.locked_scopes)


def add_assignment(world: World, ra: RoleAssignment) -> RoleAssignment:
    """Store a role assignment (keyed by its lower-cased id)."""
    with world.lock:
        world.role_assignments[key(ra.id)] = ra
    return ra
