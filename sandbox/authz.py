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
CLASSIC_VIRTUAL_MACHINE_CONTRIBUTOR = "d73bb868-a0df-4d4d-bd69-98a00b01fccb"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"

# The built-in roles the product, its template and the seed name, as Azure defines them: ids, names, actions and
# descriptions copied from MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/
# privileged.md (Owner, Contributor, User Access Administrator), general.md (Reader), compute.md (Virtual Machine
# Contributor, Classic Virtual Machine Contributor), identity.md (Managed Identity Operator), monitor.md
# (Monitoring Metrics Publisher), storage.md (Storage Blob Data Reader/Contributor).
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
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
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
            "Microsoft.Compute/cloudServices/*",
            "Microsoft.Compute/disks/write",
            "Microsoft.Compute/disks/read",
            "Microsoft.Compute/disks/delete",
            "Microsoft.Compute/hostgroups/write",
            "Microsoft.Compute/hostgroups/hosts/write",
            "Microsoft.DevTestLab/schedules/*",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Network/applicationGateways/backendAddressPools/join/action",
            "Microsoft.Network/loadBalancers/backendAddressPools/join/action",
            "Microsoft.Network/loadBalancers/inboundNatPools/join/action",
            "Microsoft.Network/loadBalancers/inboundNatRules/join/action",
            "Microsoft.Network/loadBalancers/probes/join/action",
            "Microsoft.Network/loadBalancers/read",
            "Microsoft.Network/locations/*",
            "Microsoft.Network/networkInterfaces/*",
            "Microsoft.Network/networkSecurityGroups/join/action",
            "Microsoft.Network/networkSecurityGroups/read",
            "Microsoft.Network/publicIPAddresses/join/action",
            "Microsoft.Network/publicIPAddresses/read",
            "Microsoft.Network/virtualNetworks/read",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.RecoveryServices/locations/*",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/backupProtectionIntent/write",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/*/read",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
            "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
            "Microsoft.RecoveryServices/Vaults/backupPolicies/write",
            "Microsoft.RecoveryServices/Vaults/read",
            "Microsoft.RecoveryServices/Vaults/usages/read",
            "Microsoft.RecoveryServices/Vaults/write",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.SerialConsole/serialPorts/connect/action",
            "Microsoft.SqlVirtualMachine/*",
            "Microsoft.Storage/storageAccounts/listKeys/action",
            "Microsoft.Storage/storageAccounts/read",
            "Microsoft.Support/*",
        ],
    ),
    RoleDefinition(
        # What the seed README assigns as "Virtual Machine Contributor": classic (ASM) compute only, so it grants
        # nothing on a scale set (no Microsoft.Compute action).
        CLASSIC_VIRTUAL_MACHINE_CONTRIBUTOR,
        "Classic Virtual Machine Contributor",
        [
            "Microsoft.Authorization/*/read",
            "Microsoft.ClassicCompute/domainNames/*",
            "Microsoft.ClassicCompute/virtualMachines/*",
            "Microsoft.ClassicNetwork/networkSecurityGroups/join/action",
            "Microsoft.ClassicNetwork/reservedIps/link/action",
            "Microsoft.ClassicNetwork/reservedIps/read",
            "Microsoft.ClassicNetwork/virtualNetworks/join/action",
            "Microsoft.ClassicNetwork/virtualNetworks/read",
            "Microsoft.ClassicStorage/storageAccounts/disks/read",
            "Microsoft.ClassicStorage/storageAccounts/images/read",
            "Microsoft.ClassicStorage/storageAccounts/listKeys/action",
            "Microsoft.ClassicStorage/storageAccounts/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
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
        MONITORING_METRICS_PUBLISHER,
        "Monitoring Metrics Publisher",
        [
            "Microsoft.Insights/Register/Action",
            "Microsoft.Support/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
        ],
        data_actions=["Microsoft.Insights/Metrics/Write", "Microsoft.Insights/Telemetry/Write"],
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

DESCRIPTIONS = {
    OWNER: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
    CONTRIBUTOR: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, "
    "manage assignments in Azure Blueprints, or share image galleries.",
    READER: "View all resources, but does not allow you to make any changes.",
    USER_ACCESS_ADMINISTRATOR: "Lets you manage user access to Azure resources.",
    VIRTUAL_MACHINE_CONTRIBUTOR: "Lets you manage virtual machines, but not access to them, and not the virtual "
    "network or storage account they're connected to.",
    CLASSIC_VIRTUAL_MACHINE_CONTRIBUTOR: "Lets you manage classic virtual machines, but not access to them, and "
    "not the virtual network or storage account they're connected to.",
    MANAGED_IDENTITY_OPERATOR: "Read and Assign User Assigned Identity",
    MONITORING_METRICS_PUBLISHER: "Enables publishing metrics against Azure resources",
    STORAGE_BLOB_DATA_READER: "Allows for read access to Azure Storage blob containers and data",
    STORAGE_BLOB_DATA_CONTRIBUTOR: "Allows for read, write and delete access to Azure Storage blob containers "
    "and data",
}

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
