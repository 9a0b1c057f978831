"""Microsoft.Compute: virtual machine scale sets (GET, list, PATCH identity as a long-running operation)."""

from __future__ import annotations

import copy
from typing import Any

from .. import authz
from ..httpd import Response, json_response
from ..state import World, key
from .base import (
    RG,
    SUB,
    ArmError,
    ArmRouter,
    Call,
    public,
    read_handlers,
    require_resource,
    require_write,
    resource_id_of,
)
from .lro import Operations
from .msi import UAI_TYPE

VMSS_TYPE = "Microsoft.Compute/virtualMachineScaleSets"
VMSS_READ = f"{VMSS_TYPE}/read"
ASSIGN = f"{UAI_TYPE}/assign/action"
IDENTITY_TYPES = {
    "none": "None",
    "systemassigned": "SystemAssigned",
    "userassigned": "UserAssigned",
    "systemassigned, userassigned": "SystemAssigned, UserAssigned",
}


def identity_entry(world: World, identity_id: str) -> dict[str, str]:
    body = world.get(identity_id)
    if body is None or body.get("type", "").lower() != UAI_TYPE.lower():
        raise ArmError(
            400,
            "FailedIdentityOperation",
            f"Identity '{identity_id}' specified in the request was not found: the user-assigned "
            "identity does not exist or the resource id is not valid.",
        )
    return {"principalId": body["properties"]["principalId"], "clientId": body["properties"]["clientId"]}


def vmss_body(
    world: World,
    resource_id: str,
    *,
    location: str,
    pool: str,
    cluster_id: str,
    instances: int,
    identity_ids: list[str],
    vm_size: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    name = resource_id.rstrip("/").rsplit("/", 1)[-1]
    return {
        "id": resource_id,
        "name": name,
        "type": VMSS_TYPE,
        "location": location,
        "tags": tags,
        "sku": {"name": vm_size, "tier": "Standard", "capacity": instances},
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {i: identity_entry(world, i) for i in identity_ids},
        },
        "properties": {
            "provisioningState": "Succeeded",
            "singlePlacementGroup": False,
            "orchestrationMode": "Uniform",
            "upgradePolicy": {"mode": "Manual"},
            "overprovision": False,
            "virtualMachineProfile": {
                "osProfile": {"computerNamePrefix": name, "adminUsername": "azureuser"},
                "storageProfile": {"osDisk": {"createOption": "FromImage"}},
            },
        },
        "_sandbox": {
            "cluster_id": cluster_id,
            "pool": pool,
            "aks_identities": list(identity_ids),
            "instances": instances,
            "updating": False,
        },
    }


def _vmss_id(call: Call) -> str:
    return resource_id_of(call, VMSS_TYPE)


get_vmss, list_in_group, list_in_subscription = read_handlers(VMSS_TYPE, VMSS_READ)


def _requested_identity(call: Call, current: dict[str, Any], requested: dict[str, Any]) -> dict[str, Any]:
    """Validate an identity PATCH (the map of user-assigned identities replaces the current one)."""
    raw_type = str(requested.get("type") or current.get("type") or "None")
    id_type = IDENTITY_TYPES.get(raw_type.replace(" ", "").replace(",", ", ").lower())
    if id_type is None:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The value '{raw_type}' of parameter 'identity.type' is not valid. Allowed values: "
            f"{', '.join(IDENTITY_TYPES.values())}.",
        )
    wanted_map = requested.get("userAssignedIdentities") or {}
    wanted = [i for i, v in wanted_map.items() if v is not None]
    if len({key(i) for i in wanted}) != len(wanted):
        raise ArmError(400, "InvalidParameter", "The same user-assigned identity is listed more than once.")
    if "UserAssigned" in id_type and not wanted:
        raise ArmError(
            400,
            "InvalidParameter",
            "'identity.userAssignedIdentities' must list at least one identity when the type is UserAssigned.",
        )
    if "UserAssigned" not in id_type and wanted:
        raise ArmError(
            400,
            "InvalidParameter",
            f"'identity.userAssignedIdentities' is not allowed with identity type '{id_type}'.",
        )
    have = {key(i) for i in (current.get("userAssignedIdentities") or {})}
    if wanted and id_type == current.get("type") and {key(i) for i in wanted} == have:
        raise ArmError(
            400,
            "InvalidParameter",
            "The user-assigned identities in the request are already assigned to the scale set; "
            "nothing to update.",
        )
    entries = {i: identity_entry(call.world, i) for i in wanted}
    for identity_id in entries:
        if key(identity_id) in have:
            continue
        if not authz.is_authorized(call.world, call.principal.object_id, ASSIGN, identity_id):
            raise ArmError(
                403,
                "LinkedAuthorizationFailed",
                f"The client '{call.principal.client_id}' with object id '{call.principal.object_id}' has permission "
                f"to perform action '{VMSS_TYPE}/write' on scope '{_vmss_id(call)}'; however, it does not have "
                f"permission to perform action(s) '{ASSIGN}' on the linked scope(s) '{identity_id}' (respectively) "
                "or the linked scope(s) are invalid.",
            )
    identity: dict[str, Any] = {"type": id_type}
    if entries:
        identity["userAssignedIdentities"] = entries
    if "SystemAssigned" in id_type:
        identity["principalId"] = current.get("principalId") or call.principal.object_id
        identity["tenantId"] = current.get("tenantId") or call.tenant_id
    return identity


def patch_vmss(call: Call, ops: Operations) -> Response:
    vmss_id = _vmss_id(call)
    stored = require_resource(call, vmss_id, VMSS_TYPE)
    require_write(call, f"{VMSS_TYPE}/write", vmss_id)
    patch = call.body()
    with call.world.lock:
        if stored["_sandbox"].get("updating"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'PATCH' is not allowed on scale set '{stored['name']}' since another "
                "operation is in progress on it. Re-read the scale set and retry.",
            )
        target = copy.deepcopy(stored)
        if "identity" in patch:
            target["identity"] = _requested_identity(
                call, stored.get("identity") or {}, patch["identity"] or {}
            )
        if isinstance(patch.get("tags"), dict):
            target["tags"] = patch["tags"]
        stored["_sandbox"]["updating"] = True
        stored["properties"]["provisioningState"] = "Updating"
        target["properties"]["provisioningState"] = "Updating"
        preview = public(copy.deepcopy(target))

    def complete() -> None:
        with call.world.lock:
            target["properties"]["provisioningState"] = "Succeeded"
            target["_sandbox"] = stored["_sandbox"]
            target["_sandbox"]["updating"] = False
            call.world.put(target)

    op = ops.start("vmss.update", call.world.timing.vmss_update_s, complete)
    return json_response(preview, 200, **ops.headers(call, op))


def register(router: ArmRouter, ops: Operations) -> None:
    one = RG + r"/providers/Microsoft\.Compute/virtualMachineScaleSets/(?P<name>[^/]+)"
    router.add("GET", SUB + r"/providers/Microsoft\.Compute/virtualMachineScaleSets", list_in_subscription)
    router.add("GET", RG + r"/providers/Microsoft\.Compute/virtualMachineScaleSets", list_in_group)
    router.add("GET", one, get_vmss)
    router.add("PATCH", one, lambda call: patch_vmss(call, ops))
