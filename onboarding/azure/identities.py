"""User-assigned managed identities: resource ids and what discovery needs to know about one."""

from __future__ import annotations

from azure.mgmt.core.tools import parse_resource_id
from azure.mgmt.msi import ManagedServiceIdentityClient

from ..cluster import IdentityRef


def same_id(a: str, b: str) -> bool:
    """ARM ids compare case-insensitively (``resourcegroups`` vs ``resourceGroups``)."""
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def short_name(resource_id: str) -> str:
    """The last segment of a resource id (its name)."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def get_identity(client: ManagedServiceIdentityClient, resource_id: str) -> IdentityRef:
    parts = parse_resource_id(resource_id)
    identity = client.user_assigned_identities.get(parts["resource_group"], parts["name"])
    return IdentityRef(
        resource_id=identity.id or resource_id,
        name=identity.name or parts["name"],
        client_id=str(identity.client_id),
        principal_id=str(identity.principal_id),
        tenant_id=str(identity.tenant_id) if identity.tenant_id else None,
    )
