"""A managed cluster's identities as AKS takes them at create: ``identity`` (the control plane's: SystemAssigned, or
UserAssigned with exactly one identity) and ``identityProfile.kubeletidentity.resourceId`` ("bring your own kubelet
identity": AKS puts that identity on every node pool scale set instead of creating ``<cluster>-agentpool``).

Evidence (docs/fidelity/arm.md, "Managed clusters: control plane and kubelet identities"):
- azure-rest-api-specs ManagedCluster: ``identity.userAssignedIdentities`` "only one user assigned identity is
  allowed"; ``identityProfile`` carries ``kubeletidentity`` (resourceId, clientId, objectId).
- AKS answers 400 ``CustomKubeletIdentityMissingPermissionError`` ("The cluster using user-assigned managed identity
  must be granted 'Managed Identity Operator' role to assign kubelet identity. ...") when the control plane identity
  lacks Managed Identity Operator over the kubelet identity, synchronously on the PUT; a grant made just before can
  still be missing ("a timing / dependency issue ... re-run"; Azure Service Operator retries on this code), so the
  check counts propagated assignments only.
- ``CustomKubeletIdentityOnlySupportedOnUserAssignedMSICluster``: a kubelet identity with a system-assigned control
  plane is refused (the az CLI: "--assign-kubelet-identity can only be specified when --assign-identity is
  specified").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import authz
from ..state import Principal, World
from .base import ArmError, Call, may
from .compute import ASSIGN, identity_entry

MIO_HINT = "https://learn.microsoft.com/en-us/azure/aks/use-managed-identity#add-role-assignment"


@dataclass(frozen=True)
class ClusterIdentities:
    """What the create asked for: None is AKS's own (system-assigned control plane, ``<cluster>-agentpool``)."""

    control_plane_id: str | None = None
    kubelet_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"control_plane_id": self.control_plane_id, "kubelet_id": self.kubelet_id}


def _invalid(message: str, code: str = "InvalidParameter") -> ArmError:
    return ArmError(400, code, message)


def _control_plane(identity: dict[str, Any]) -> str | None:
    kind = str(identity.get("type") or "SystemAssigned")
    assigned = identity.get("userAssignedIdentities") or {}
    if kind.lower() == "systemassigned":
        return None
    if kind.lower() != "userassigned":
        raise _invalid(
            f"The value '{kind}' of parameter 'identity.type' is not valid. Allowed values: SystemAssigned, "
            "UserAssigned."
        )
    if not isinstance(assigned, dict) or len(assigned) != 1:
        raise _invalid("Only one user assigned identity is allowed for the control plane (identity).")
    return str(next(iter(assigned)))


def requested_identities(body: dict[str, Any]) -> ClusterIdentities:
    """The create body's identities, validated as AKS does before anything is created."""
    control_plane = _control_plane(body.get("identity") or {})
    profile = (body.get("properties") or {}).get("identityProfile") or {}
    unknown = sorted(set(profile) - {"kubeletidentity"})
    if unknown:
        raise _invalid(
            f"identityProfile supports only 'kubeletidentity', got {', '.join(unknown)}.",
            "CustomKubeletIdentityPropertyError",
        )
    kubelet = str((profile.get("kubeletidentity") or {}).get("resourceId") or "") or None
    if kubelet and control_plane is None:
        raise _invalid(
            "Custom kubelet identity is only supported on a cluster using a user-assigned managed identity: set "
            "identity.type to UserAssigned with the control plane identity.",
            "CustomKubeletIdentityOnlySupportedOnUserAssignedMSICluster",
        )
    return ClusterIdentities(control_plane, kubelet)


def check_identities(call: Call, wanted: ClusterIdentities) -> None:
    """The identities exist, the caller may assign them (ARM's linked check, as for a scale set) and the control
    plane identity holds Managed Identity Operator over the kubelet identity (propagated)."""
    for identity_id in filter(None, (wanted.control_plane_id, wanted.kubelet_id)):
        identity_entry(call.world, identity_id)
        if not may(call.world, call.principal, ASSIGN, identity_id):
            raise ArmError(
                403,
                "LinkedAuthorizationFailed",
                f"The client '{call.principal.client_id}' with object id '{call.principal.object_id}' does not have "
                f"permission to perform action(s) '{ASSIGN}' on the linked scope(s) '{identity_id}' or the linked "
                "scope(s) are invalid.",
            )
    if wanted.kubelet_id is None or wanted.control_plane_id is None:
        return
    control_plane = principal_of(call.world, wanted.control_plane_id)
    if not authz.is_authorized(call.world, control_plane.object_id, ASSIGN, wanted.kubelet_id):
        raise ArmError(
            400,
            "CustomKubeletIdentityMissingPermissionError",
            "The cluster using user-assigned managed identity must be granted 'Managed Identity Operator' role to "
            "assign kubelet identity. You can run 'az role assignment create --assignee "
            "<control-plane-identity-principal-id> --role 'Managed Identity Operator' --scope "
            f"<kubelet-identity-resource-id>' to grant the permission. See {MIO_HINT}",
        )


def principal_of(world: World, identity_id: str) -> Principal:
    principal = world.principal_by_resource_id(identity_id)
    if principal is None:
        identity_entry(world, identity_id)  # raises AKS's "not found" for a missing identity
        raise _invalid(f"Identity '{identity_id}' has no service principal.")
    return principal
