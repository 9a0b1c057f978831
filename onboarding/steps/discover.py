"""Step 2 (read-only): what the application deployed: cluster, identities, node pool scale sets, storage account."""

from __future__ import annotations

from typing import NamedTuple

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.storage import StorageManagementClient

from ..azure import aks, identities, managed_app, storage, vmss
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..errors import PermanentError
from ..ids import ResourceId
from ..results import StepResult
from . import StepRecorder

STEP = "discover_cluster"
READ_HINT = (
    "the publisher (managed resource group) or the node resource group credential holds no role there: for the "
    "publisher, run refresh_permissions (it re-applies the definition's or plan's authorizations); for the node "
    "resource group credential, only the application's template (a new version) or the customer can grant it"
)


class Discovery(NamedTuple):
    cluster: ClusterInfo
    result: StepResult


def discover(ctx: CustomerContext) -> Discovery:
    """Read-only, so it is retried whole while fresh role assignments (the publisher's on the managed resource
    group, the identity's on the node resource group) propagate; the result says what was found and how long
    that propagation was waited for."""
    rec = StepRecorder(ctx, STEP, dry_run=False)
    cluster, waited = ctx.through_propagation(
        lambda: _discover(ctx), what="read access to the deployment", hint=READ_HINT
    )
    rec.waited(waited)
    pools = ", ".join(identities.short_name(vmss_id) for vmss_id in cluster.scale_sets) or "none"
    rec.unchanged(f"cluster {cluster.cluster_name}, node resource group {cluster.node_resource_group}")
    rec.unchanged(f"node pool scale sets: {pools}")
    rec.unchanged(f"storage account {cluster.storage_account_name or 'not found'}")
    return Discovery(cluster, rec.finish())


def discover_cluster(ctx: CustomerContext) -> ClusterInfo:
    return discover(ctx).cluster


def _discover(ctx: CustomerContext) -> ClusterInfo:
    spec = ctx.spec
    with ctx.errors(STEP, f"read managed application {spec.managed_application.name}"):
        app = managed_app.get_application(ctx.resources, ctx.application_id)
    if app is None or managed_app.state_of(app).lower() != "succeeded":
        raise PermanentError(
            f"managed application {spec.managed_application.name} is not deployed",
            customer=spec.name,
            step=STEP,
            hint="run ensure_managed_app first",
        )
    outputs = managed_app.outputs_of(app)
    mrg_id = str(
        (app.properties or {}).get("managedResourceGroupId") or managed_app.managed_resource_group_id(spec)
    )
    mrg = str(ResourceId(mrg_id).resource_group)
    aks_name = str(outputs.get("aksName") or spec.managed_application.parameters.aks_name)
    identity_id = str(outputs.get("identityResourceId") or managed_app.expected_identity_id(spec))

    with ctx.errors(STEP, f"read AKS cluster {aks_name}"):
        cluster = aks.get_cluster(ctx.client(ContainerServiceClient), mrg, aks_name)
    msi = ctx.client(ManagedServiceIdentityClient)
    with ctx.errors(STEP, f"read the application's identity {identity_id}"):
        app_identity = identities.get_identity(msi, identity_id)
    extra = []
    for extra_id in spec.identities:
        with ctx.errors(STEP, f"read identity {extra_id}"):
            extra.append(identities.get_identity(msi, extra_id))

    node_rg = str(cluster.node_resource_group)
    compute = ctx.for_app_identity(app_identity.resource_id).client(ComputeManagementClient, node_rg=True)
    with ctx.errors(STEP, f"list node pool scale sets in {node_rg}"):
        scale_sets = [str(s.id) for s in vmss.list_scale_sets(compute, node_rg)]

    account_name = str(spec.storage.account or outputs.get("storageAccountName") or "")
    with ctx.errors(STEP, f"find the storage account in {mrg}"):
        account = storage.find_account(ctx.client(StorageManagementClient), mrg, account_name)
    return ClusterInfo(
        application_id=str(app.id),
        managed_resource_group_id=mrg_id,
        cluster_id=str(cluster.id),
        cluster_name=str(cluster.name),
        node_resource_group=node_rg,
        node_resource_group_id=f"/subscriptions/{spec.subscription_id}/resourceGroups/{node_rg}",
        kubelet_identity=aks.kubelet_identity(cluster),
        app_identity=app_identity,
        identities=[
            app_identity,
            *(i for i in extra if not identities.same_id(i.resource_id, app_identity.resource_id)),
        ],
        oidc_issuer_url=aks.oidc_issuer_url(cluster),
        network_plugin=aks.network_plugin(cluster),
        scale_sets=scale_sets,
        storage_account_id=account.id if account else None,
        storage_account_name=account.name if account else None,
        dfs_endpoint=storage.dfs_endpoint(account) if account else None,
    )
