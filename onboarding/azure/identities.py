"""User-assigned managed identities: resource ids and what discovery needs to know about one."""

from __future__ import annotations

from azure.mgmt.msi import ManagedServiceIdentityClient

from ..cluster import IdentityRef
from ..ids import ResourceId


def same_id(a: str, b: str) -> bool:
    """ARM ids compare case-insensitively (``resourcegroups`` vs ``resourceGroups``)."""
    return ResourceId(a) == ResourceId(b)


def short_name(resource_id: str) -> str:
    """The last segment of a resource id (its name)."""
    return ResourceId(resource_id).name


def get_identity(client: ManagedServiceIdentityClient, resource_id: str) -> IdentityRef:
    rid = ResourceId(resource_id)
    identity = client.user_assigned_identities.get(str(rid.resource_group), rid.name)
    return IdentityRef(
        resource_id=identity.id or resource_id,
        name=identity.name or rid.name,
        client_id=str(identity.client_id),
        principal_id=str(identity.principal_id),
        tenant_id=str(identity.tenant_id) if identity.tenant_id else None,
    )
