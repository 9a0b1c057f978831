"""Microsoft.Compute: virtual machine scale sets (GET, list, PATCH identity as a long-running operation).

The PATCH answers 200 with the body (``Updating``) and ``Azure-AsyncOperation``, without ``Retry-After``, as
Compute does (Azure/azure-cli vm recordings/test_vmss_explicit_msi.yaml).
"""

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


def _normal_type(call: Call, raw: str) -> str:
    id_type = IDENTITY_TYPES.get(raw.replace(" ", "").replace(",", ", ").lower())
    if id_type is None:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The value '{raw}' of parameter 'identity.type' is not valid. Allowed values: "
            f"{', '.join(IDENTITY_TYPES.values())}.",
        )
    return id_type


def _requested_identity(call: Call, current: dict[str, Any], requested: dict[str, Any]) -> dict[str, Any]:
    """The identity after a PATCH: ``userAssignedIdentities`` is MERGED into what is attached.

    An identity named with an object stays or is added, one named with ``null`` is removed, one left out stays
    (api-version 2018-06-01 and later; MicrosoftDocs/azure-docs
    articles/active-directory/managed-identities-azure-resources/qs-configure-rest-vmss.md, "Remove a
    user-assigned managed identity from a virtual machine scale set"). Azure/azure-cli
    command_modules/vm/tests/latest/recordings/test_vmss_explicit_msi.yaml: ``az vmss identity assign`` PATCHes
    the identities already attached plus the new one (200), ``az vmss identity remove`` PATCHes
    ``{"<id>": null}`` (200, the other identity stays) and, for the last one, only ``{"type": "SystemAssigned"}``
    (200, every user-assigned identity gone). A type without ``UserAssigned`` drops them all. A PATCH that
    changes nothing is accepted like any other (200 + operation): the CLI re-sends the attached identities.
    """
    id_type = _normal_type(call, str(requested.get("type") or current.get("type") or "None"))
    requested_map = requested.get("userAssignedIdentities") or {}
    added = [i for i, v in requested_map.items() if v is not None]
    removed = {key(i) for i, v in requested_map.items() if v is None}
    if len({key(i) for i in added}) != len(added):
        raise ArmError(400, "InvalidParameter", "The same user-assigned identity is listed more than once.")
    if "UserAssigned" not in id_type and added:
        # Azure/aad-pod-identity issue 214 quotes Compute's answer for the older identityIds form.
        raise ArmError(
            400,
            "InvalidParameter",
            f'ResourceIdentity userAssignedIdentities should not be provided if the type is "{id_type}".',
        )
    have = dict(current.get("userAssignedIdentities") or {}) if "UserAssigned" in id_type else {}
    have_keys = {key(i) for i in have}
    entries = {i: v for i, v in have.items() if key(i) not in removed}
    for identity_id in added:
        if key(identity_id) in have_keys:
            continue
        entry = identity_entry(call.world, identity_id)
        if not authz.is_authorized(call.world, call.principal.object_id, ASSIGN, identity_id):
            raise ArmError(
                403,
                "LinkedAuthorizationFailed",
                f"The client '{call.principal.client_id}' with object id '{call.principal.object_id}' has permission "
                f"to perform action '{VMSS_TYPE}/write' on scope '{_vmss_id(call)}'; however, it does not have "
                f"permission to perform action(s) '{ASSIGN}' on the linked scope(s) '{identity_id}' (respectively) "
                "or the linked scope(s) are invalid.",
            )
        entries[identity_id] = entry
    if "UserAssigned" in id_type and not entries:
        # Not documented; the CLI never sends it (it switches the type to None or SystemAssigned instead).
        raise ArmError(
            400,
            "InvalidParameter",
            "'identity.userAssignedIdentities' must list at least one identity when the type is UserAssigned.",
        )
    identity: dict[str, Any] = {"type": id_type}
    if "SystemAssigned" in id_type:
        identity["principalId"] = current.get("principalId") or call.principal.object_id
        identity["tenantId"] = current.get("tenantId") or call.tenant_id
    if entries:
        identity["userAssignedIdentities"] = entries
    return identity


def _preview(stored: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The 200 body while Updating: identities being added read ``{}`` until the operation completes
    (Azure/azure-cli vm recordings/test_vmss_explicit_msi.yaml, the ``vmss identity assign`` PATCH)."""
    preview = public(copy.deepcopy(target))
    attached = {key(i) for i in (stored.get("identity") or {}).get("userAssignedIdentities") or {}}
    for identity_id in (preview.get("identity") or {}).get("userAssignedIdentities") or {}:
        if key(identity_id) not in attached:
            preview["identity"]["userAssignedIdentities"][identity_id] = {}
    return preview


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
        preview = _preview(stored, target)

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
