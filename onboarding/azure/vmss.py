"""Node pool scale sets: which user-assigned identities they carry, the PATCH that adds the missing ones and the
one offboarding uses to remove this product's.

Azure MERGES ``identity.userAssignedIdentities`` in a scale set PATCH (api-version 2018-06-01 and later): an
identity named with ``{}`` is added, one named with ``null`` is removed, one left out stays (MicrosoftDocs/azure-docs
articles/active-directory/managed-identities-azure-resources/qs-configure-rest-vmss.md; ``az vmss identity remove``
sends only the removed identity as null, Azure/azure-cli vm recordings/test_vmss_explicit_msi.yaml). So the PATCH
names only what changes: nothing this product did not add is ever in the body, and an identity someone attaches
between our read and our write survives. It is sent only when something is missing, because every PATCH is a
write (and a scale set update). Onboarding never removes anything; offboarding removes only the identities it names.
"""

from __future__ import annotations

from typing import Any

from azure.core.polling import LROPoller
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    UserAssignedIdentitiesValue,
    VirtualMachineScaleSet,
    VirtualMachineScaleSetIdentity,
    VirtualMachineScaleSetUpdate,
)

from ..ids import ResourceId

SYSTEM_AND_USER = "SystemAssigned, UserAssigned"
USER = "UserAssigned"
SYSTEM = "SystemAssigned"
NONE = "None"
# The tag AKS puts on each node pool's scale set: the agent pool's name.
POOL_NAME_TAG = "aks-managed-poolName"


def list_scale_sets(client: ComputeManagementClient, resource_group: str) -> list[VirtualMachineScaleSet]:
    return list(client.virtual_machine_scale_sets.list(resource_group))


def pool_name(vmss: VirtualMachineScaleSet) -> str:
    """The name of the AKS agent pool the scale set belongs to ("" when it carries no pool tag)."""
    return str((vmss.tags or {}).get(POOL_NAME_TAG) or "")


def _group_and_name(vmss_id: str) -> tuple[str, str]:
    rid = ResourceId(vmss_id)
    return str(rid.resource_group), rid.name


def get_scale_set(client: ComputeManagementClient, vmss_id: str) -> VirtualMachineScaleSet:
    group, name = _group_and_name(vmss_id)
    return client.virtual_machine_scale_sets.get(group, name)


def identity_type(vmss: VirtualMachineScaleSet) -> str:
    kind = vmss.identity.type if vmss.identity is not None else None
    return str(getattr(kind, "value", kind) or "None")


def attached_ids(vmss: VirtualMachineScaleSet) -> list[str]:
    if vmss.identity is None or not vmss.identity.user_assigned_identities:
        return []
    return list(vmss.identity.user_assigned_identities)


def missing_ids(vmss: VirtualMachineScaleSet, wanted: list[str]) -> list[str]:
    """Wanted identity ids the scale set lacks (case-insensitive), in the order wanted."""
    present = {ResourceId(i) for i in attached_ids(vmss)}
    missing: list[str] = []
    for identity_id in wanted:
        normal = ResourceId(identity_id)
        if normal not in present:
            present.add(normal)
            missing.append(identity_id)
    return missing


def present_ids(vmss: VirtualMachineScaleSet, candidates: list[str]) -> list[str]:
    """The ``candidates`` attached to the scale set, spelled as the scale set spells them."""
    wanted = {ResourceId(c) for c in candidates}
    return [i for i in attached_ids(vmss) if ResourceId(i) in wanted]


def _system_assigned(vmss: VirtualMachineScaleSet) -> bool:
    return "systemassigned" in identity_type(vmss).replace(" ", "").lower()


def identity_update(vmss: VirtualMachineScaleSet, add: list[str]) -> VirtualMachineScaleSetUpdate:
    """PATCH body that adds ``add``: only those identities (Azure merges), keeping a system-assigned identity."""
    kind = SYSTEM_AND_USER if _system_assigned(vmss) else USER
    return VirtualMachineScaleSetUpdate(
        identity=VirtualMachineScaleSetIdentity(
            type=kind, user_assigned_identities={i: UserAssignedIdentitiesValue() for i in add}
        )
    )


def identity_removal(vmss: VirtualMachineScaleSet, remove: list[str]) -> VirtualMachineScaleSetUpdate:
    """PATCH body that drops ``remove`` and keeps every other identity (the kubelet identity, anyone else's).

    As ``az vmss identity remove`` does: while other user-assigned identities stay, only the removed ones, as
    null, with the current type; when none would stay, only the type that remains (``SystemAssigned`` or
    ``None``), which drops every user-assigned identity.
    """
    gone = {ResourceId(r) for r in remove}
    kept = [i for i in attached_ids(vmss) if ResourceId(i) not in gone]
    if not kept:
        kind = SYSTEM if _system_assigned(vmss) else NONE
        return VirtualMachineScaleSetUpdate(identity=VirtualMachineScaleSetIdentity(type=kind))
    kind = SYSTEM_AND_USER if _system_assigned(vmss) else USER
    # null values: the SDK's type says otherwise, but that is how Azure's merge PATCH removes an identity
    identities: dict[str, Any] = {r: None for r in remove}
    return VirtualMachineScaleSetUpdate(
        identity=VirtualMachineScaleSetIdentity(type=kind, user_assigned_identities=identities)
    )


def begin_identity_update(
    client: ComputeManagementClient, vmss_id: str, update: VirtualMachineScaleSetUpdate
) -> LROPoller[VirtualMachineScaleSet]:
    group, name = _group_and_name(vmss_id)
    return client.virtual_machine_scale_sets.begin_update(group, name, update)
