"""Step 4: every identity the customer should have is attached to a node pool scale set (one scale set per call;
the flow runs one per scale set in parallel). Adds what is missing, keeps everything already there."""

from __future__ import annotations

import time

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import VirtualMachineScaleSet

from ..azure import vmss
from ..azure.identities import short_name
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..deadline import remaining
from ..errors import TransientError
from ..results import StepResult
from ..watch import ScaleSetSurvey
from . import StepRecorder

STEP = "attach_identities"
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
