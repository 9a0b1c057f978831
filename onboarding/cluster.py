"""What discovery learns about a customer's deployment; every later step works from it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IdentityRef(BaseModel):
    resource_id: str
    name: str
    client_id: str
    principal_id: str
    tenant_id: str | None = None


class ClusterInfo(BaseModel):
    application_id: str
    managed_resource_group_id: str
    cluster_id: str
    cluster_name: str
    node_resource_group: str
    node_resource_group_id: str
    kubelet_identity: IdentityRef
    app_identity: IdentityRef
    identities: list[IdentityRef] = Field(
        description="Identities every node pool must carry (app identity first)"
    )
    oidc_issuer_url: str | None = None
    network_plugin: str | None = None
    scale_sets: list[str] = Field(default_factory=list, description="Node pool scale set ids")
    storage_account_id: str | None = None
    storage_account_name: str | None = None
    dfs_endpoint: str | None = None

    def principal_names(self) -> dict[str, str]:
        """Principal id (lower case) -> name, for every identity of the customer's (node pools' and kubelet)."""
        return {i.principal_id.lower(): i.name for i in [*self.identities, self.kubelet_identity]}
