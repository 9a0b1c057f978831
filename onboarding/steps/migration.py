"""Onboarding after a migration to workload identity whose catalog change is not committed yet.

The migration records the new mode in the cluster (``kube/migration_record.py``) and its report says which catalog
change to commit. Until someone commits it, the catalog still says aad-pod-identity; this read-only step finds
the record, and the steps that depend on the mode (pod identity, the storage proof) then run in the recorded mode
(``follow``) instead of reinstalling pod identity. Its result says which YAML change to commit."""

from __future__ import annotations

from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..kube.kubeconfig import customer_cluster
from ..kube.migration_record import read_record
from ..models import CustomerSpec, PodIdentityMode, StorageCheckMode
from ..results import StepResult
from . import StepRecorder

STEP = "follow_migration_record"


def as_mode(spec: CustomerSpec, mode: PodIdentityMode, *, pod_proof: bool = False) -> CustomerSpec:
    """``spec`` in pod identity ``mode``; ``pod_proof``: its storage proven from a pod whatever its check mode."""
    update: dict[str, object] = {"pod_identity": spec.pod_identity.model_copy(update={"mode": mode})}
    if pod_proof:
        update["storage"] = spec.storage.model_copy(update={"mode": StorageCheckMode.POD})
    return spec.model_copy(update=update)


def catalog_change(spec: CustomerSpec, catalog_dir: str) -> dict[str, str] | None:
    """The YAML change the operator commits to the customer's catalog entry; None when it says so already."""
    if spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY:
        return None
    return {
        "file": f"{catalog_dir}/{spec.name}.yaml",
        "change": f"pod_identity.mode: {spec.pod_identity.mode.value} -> workload-identity",
        "yaml": "pod_identity:\n  mode: workload-identity\n",
    }


def follow(ctx: CustomerContext, cluster: ClusterInfo) -> CustomerContext:
    """``ctx`` in the mode the cluster's record says, when it says one."""
    mode = cluster.recorded_mode
    if mode is None or mode is ctx.spec.pod_identity.mode:
        return ctx
    return ctx.for_spec(as_mode(ctx.spec, mode))


def follow_migration_record(ctx: CustomerContext, cluster: ClusterInfo) -> tuple[ClusterInfo, StepResult]:
    rec = StepRecorder(ctx, STEP, dry_run=False)
    namespace = ctx.spec.pod_identity.namespace
    with customer_cluster(ctx, cluster, step=STEP) as access:
        record = read_record(access.api, namespace=namespace, customer=ctx.spec.name, step=STEP)
    if record is None or record.mode is ctx.spec.pod_identity.mode:
        rec.unchanged(f"no migration record in namespace {namespace}: the catalog's mode holds")
        return cluster, rec.finish()
    change = catalog_change(ctx.spec, str(ctx.settings.catalog_dir))
    rec.unchanged(
        f"the cluster was migrated to {record.mode.value} ({record}): onboarding follows it, not the catalog's "
        f"{ctx.spec.pod_identity.mode.value}; commit to the catalog: {change['change'] if change else ''}"
    )
    followed = cluster.model_copy(update={"recorded_mode": record.mode})
    return followed, rec.finish(recorded_mode=record.mode.value, catalog_change=change)
