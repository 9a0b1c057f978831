"""Step 4: every identity the customer should have is attached to a node pool scale set (one scale set per call;
the flow runs one per scale set in parallel). Adds what is missing, keeps everything already there."""

from __future__ import annotations

import time

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import VirtualMachineScaleSet
from azure.mgmt.containerservice import ContainerServiceClient

from ..azure import aks, vmss
from ..azure.identities import short_name
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..deadline import remaining
from ..errors import PermanentError, TransientError
from ..ids import ResourceId
from ..results import StepResult
from ..watch import ScaleSetSurvey
from . import StepRecorder

STEP = "attach_identities"
RESOLVE_STEP = "resolve_agent_pool"
# Agent pool provisioning states after which the pool's scale set is what it will be.
POOL_SETTLED = {"succeeded", "failed", "canceled"}
HINT = (
    "the node resource group credential cannot write scale sets: the application's identity lacks the node role "
    "its template grants on the node resource group; refresh_permissions does not restore a template's role "
    "assignment: update the application to a template version that grants it, or ask the customer to grant it"
)


def _wanted(cluster: ClusterInfo) -> list[str]:
    return [i.resource_id for i in cluster.identities]


def survey_scale_sets(ctx: CustomerContext, cluster: ClusterInfo) -> ScaleSetSurvey:
    """For the watcher: every node pool scale set and the identities each lacks (read-only, one list call)."""
    compute = ctx.for_cluster(cluster).client(ComputeManagementClient, node_rg=True)
    with ctx.errors("watch_node_pools", f"list scale sets in {cluster.node_resource_group}"):
        scale_sets = vmss.list_scale_sets(compute, cluster.node_resource_group)
    return ScaleSetSurvey.of(scale_sets, _wanted(cluster))


def pool_scale_set(ctx: CustomerContext, cluster: ClusterInfo, agent_pool_id: str) -> str:
    """The scale set of one of the cluster's agent pools: the node resource group's scale set tagged
    ``aks-managed-poolName`` = the pool's name, once the pool's provisioning has ended (TransientError before:
    the retry policy waits for it). An agent pool write event arrives when the write ends, so usually at once."""
    pool = ResourceId(agent_pool_id)
    if not pool.valid or pool.parent != ResourceId(cluster.cluster_id):
        raise PermanentError(
            f"{agent_pool_id} is not an agent pool of cluster {cluster.cluster_name}",
            customer=ctx.spec.name,
            step=RESOLVE_STEP,
            hint="the event names a foreign agent pool",
        )
    with ctx.errors(RESOLVE_STEP, f"read agent pool {pool.name}"):
        state = aks.provisioning_state(aks.get_agent_pool(ctx.client(ContainerServiceClient), agent_pool_id))
    if state.lower() not in POOL_SETTLED:
        raise TransientError(
            f"agent pool {pool.name} is {state or 'not provisioned yet'}",
            customer=ctx.spec.name,
            step=RESOLVE_STEP,
            hint="its scale set is looked up again once the pool's provisioning ends",
        )
    compute = ctx.for_cluster(cluster).client(ComputeManagementClient, node_rg=True)
    with ctx.errors(RESOLVE_STEP, f"list scale sets in {cluster.node_resource_group}"):
        scale_sets = vmss.list_scale_sets(compute, cluster.node_resource_group)
    found = [str(s.id) for s in scale_sets if vmss.pool_name(s).lower() == pool.name.lower()]
    if not found:
        raise TransientError(
            f"no scale set in {cluster.node_resource_group} is tagged {vmss.POOL_NAME_TAG}={pool.name} "
            f"(agent pool {state})",
            customer=ctx.spec.name,
            step=RESOLVE_STEP,
            hint="looked up again; a pool of virtual machines without a scale set has nothing to attach to",
        )
    return found[0]


def attach_identities(
    ctx: CustomerContext, cluster: ClusterInfo, vmss_id: str, *, dry_run: bool = False
) -> StepResult:
    rec = StepRecorder(ctx, STEP, dry_run=dry_run)
    compute = ctx.for_cluster(cluster).client(ComputeManagementClient, node_rg=True)
    name = short_name(vmss_id)
    with ctx.errors(STEP, f"read scale set {name}"):
        current = vmss.get_scale_set(compute, vmss_id)
    before = vmss.attached_ids(current)
    missing = vmss.missing_ids(current, _wanted(cluster))
    for identity in cluster.identities:
        if identity.resource_id not in missing:
            rec.unchanged(f"identity {identity.name} attached to scale set {name}")
    if not missing:
        return rec.finish(vmss_id=vmss_id, identities=before)
    names = ", ".join(short_name(m) for m in missing)
    rec.changed(f"attached {names} to scale set {name}", f"attach {names} to scale set {name}")
    if dry_run:
        return rec.finish(vmss_id=vmss_id, identities=before, missing=missing)
    update = vmss.identity_update(current, missing)

    def patch() -> VirtualMachineScaleSet | None:
        with ctx.errors(STEP, f"attach {names} to scale set {name}"):
            return vmss.begin_identity_update(compute, vmss_id, update).result(
                timeout=remaining(ctx.settings.deployment_timeout_s)
            )

    started = time.monotonic()
    refreshed, _ = ctx.through_propagation(patch, what=f"write access to scale set {name}", hint=HINT)
    rec.waited(time.monotonic() - started)
    if refreshed is None:  # the operation's final read (a GET after it completed) is the re-read
        with ctx.errors(STEP, f"re-read scale set {name}"):
            refreshed = vmss.get_scale_set(compute, vmss_id)
    lost = vmss.missing_ids(refreshed, [*before, *missing])
    if lost:
        raise TransientError(
            f"scale set {name} lacks {', '.join(lost)} right after the update (changed meanwhile)",
            customer=ctx.spec.name,
            step=STEP,
            hint="attach_identities runs again",
        )
    return rec.finish(vmss_id=vmss_id, identities=vmss.attached_ids(refreshed), attached=missing)
