"""Onboarding after a migration to workload identity whose catalog change is not committed yet.

The migration records the new mode in the cluster (``kube/migration_record.py``) and its report says which catalog
change to commit. Until someone commits it, the catalog still says aad-pod-identity; the steps whose work depends
on the mode (installing pod identity, the storage proof from a pod) read the record with the cluster access they
open anyway (no extra ARM call) and ``follow`` it: they run in workload identity mode instead of reinstalling pod
identity, and their results say which YAML change to commit (``details["catalog_change"]``)."""

from __future__ import annotations

from ..context import CustomerContext
from ..kube.kubeconfig import ClusterAccess
from ..kube.migration_record import read_record
from ..models import CustomerSpec, PodIdentityMode, StorageCheckMode
from . import StepRecorder


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


def follow(ctx: CustomerContext, access: ClusterAccess, rec: StepRecorder, *, step: str) -> CustomerContext:
    """``ctx`` in the mode the cluster's migration record says, when the catalog still says another one (the
    record is read only then); the step's result says so and which change to commit."""
    if ctx.spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY:
        return ctx
    namespace = ctx.spec.pod_identity.namespace
    record = read_record(access.api, namespace=namespace, customer=ctx.spec.name, step=step)
    if record is None or record.mode is ctx.spec.pod_identity.mode:
        return ctx
    change = catalog_change(ctx.spec, str(ctx.settings.catalog_dir))
    rec.unchanged(
        f"the cluster was migrated to {record.mode.value} ({record}): this run follows it, not the catalog's "
        f"{ctx.spec.pod_identity.mode.value}; commit to the catalog: {change['change'] if change else ''}"
    )
    rec.result.details.update(recorded_mode=record.mode.value, catalog_change=change)
    return ctx.for_spec(as_mode(ctx.spec, record.mode))
