"""The AKS managed cluster: what discovery reads from it."""

from __future__ import annotations

from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import (
    AgentPool,
    ManagedCluster,
    ManagedClusterOIDCIssuerProfile,
    ManagedClusterSecurityProfile,
    ManagedClusterSecurityProfileWorkloadIdentity,
)

from ..cluster import IdentityRef
from ..errors import PermanentError
from ..ids import ResourceId


def get_cluster(client: ContainerServiceClient, resource_group: str, name: str) -> ManagedCluster:
    return client.managed_clusters.get(resource_group, name)


def get_agent_pool(client: ContainerServiceClient, agent_pool_id: str) -> AgentPool:
    pool = ResourceId(agent_pool_id)
    cluster = pool.parent
    return client.agent_pools.get(str(pool.resource_group), cluster.name if cluster else "", pool.name)


def provisioning_state(pool: AgentPool) -> str:
    return str(pool.provisioning_state or "")


def kubelet_identity(cluster: ManagedCluster) -> IdentityRef:
    """``identityProfile.kubeletidentity`` as an IdentityRef (its name is the last segment of its id)."""
    profile = (cluster.identity_profile or {}).get("kubeletidentity")
    if profile is None or not profile.resource_id:
        raise PermanentError(
            f"cluster {cluster.name} has no kubelet identity (identityProfile.kubeletidentity)",
            hint="the cluster must use managed identities; redeploy the application",
        )
    return IdentityRef(
        resource_id=profile.resource_id,
        name=ResourceId(profile.resource_id).name,
        client_id=str(profile.client_id),
        principal_id=str(profile.object_id),
    )


def oidc_issuer_url(cluster: ManagedCluster) -> str | None:
    profile = cluster.oidc_issuer_profile
    return profile.issuer_url if profile is not None else None


def network_plugin(cluster: ManagedCluster) -> str | None:
    plugin = cluster.network_profile.network_plugin if cluster.network_profile is not None else None
    return getattr(plugin, "value", plugin)


def workload_identity_enabled(cluster: ManagedCluster) -> bool:
    """Both halves of Azure AD Workload Identity are on: the OIDC issuer (with its URL) and the webhook."""
    security = cluster.security_profile
    workload = security.workload_identity if security is not None else None
    return bool(oidc_issuer_url(cluster)) and bool(workload is not None and workload.enabled)


def enable_workload_identity(
    client: ContainerServiceClient, cluster: ManagedCluster, *, timeout_s: float
) -> ManagedCluster:
    """PUT the cluster as read with ``oidcIssuerProfile.enabled`` and ``securityProfile.workloadIdentity.enabled``
    set (what ``az aks update --enable-oidc-issuer --enable-workload-identity`` sends), and wait for the LRO."""
    cluster.oidc_issuer_profile = ManagedClusterOIDCIssuerProfile(enabled=True)
    security = cluster.security_profile or ManagedClusterSecurityProfile()
    security.workload_identity = ManagedClusterSecurityProfileWorkloadIdentity(enabled=True)
    cluster.security_profile = security
    rid = ResourceId(str(cluster.id))
    poller = client.managed_clusters.begin_create_or_update(str(rid.resource_group), rid.name, cluster)
    return poller.result(timeout=timeout_s)
