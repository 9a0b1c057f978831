"""Removing this product's identities from the node pool scale sets (offboarding, and a migration when asked):
only the identities named; every other one stays (the PATCH names only the removed ones, ``azure/vmss.py``)."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient

from ..azure import vmss
from ..azure.identities import short_name
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..deadline import remaining
from ..errors import TransientError
from . import StepRecorder


def detach_identities(
    ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo, remove_ids: list[str], *, step: str
) -> None:
    """Remove ``remove_ids`` from every scale set of the node resource group that carries one of them."""
    compute = ctx.client(ComputeManagementClient, node_rg=True)
    with ctx.errors(step, f"list scale sets in {cluster.node_resource_group}"):
        scale_sets = vmss.list_scale_sets(compute, cluster.node_resource_group)
    for scale_set in scale_sets:
        name, remove = str(scale_set.name), vmss.present_ids(scale_set, remove_ids)
        kept = [i for i in vmss.attached_ids(scale_set) if i not in remove]
        rec.unchanged(
            f"scale set {name} keeps {', '.join(short_name(i) for i in kept) or 'no user-assigned identity'}"
        )
        if not remove:
            continue
        names = ", ".join(short_name(i) for i in remove)
        rec.changed(f"removed {names} from scale set {name}", f"remove {names} from scale set {name}")
        if rec.dry_run:
            continue
        with ctx.errors(step, f"remove {names} from scale set {name}"):
            update = vmss.identity_removal(scale_set, remove)
            after = vmss.begin_identity_update(compute, str(scale_set.id), update).result(
                timeout=remaining(ctx.settings.deployment_timeout_s)
            )
        if vmss.present_ids(after, remove) or vmss.missing_ids(after, kept):
            raise TransientError(
                f"scale set {name} does not carry exactly {', '.join(kept)} after the update (changed meanwhile)",
                customer=ctx.spec.name,
                step=step,
                hint=f"{step} runs again",
            )
