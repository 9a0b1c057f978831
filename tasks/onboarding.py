"""The onboarding steps as Prefect tasks. Each is a reconcile (read, plan, apply what is missing, verify).

Each task imports its step when it runs: a flow run that needs only some steps (the node pool event path: discover
and attach) does not import the Kubernetes client, helm and storage SDKs at start-up."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from onboarding.cluster import ClusterInfo
from onboarding.models import CustomerSpec
from onboarding.results import StepResult

from .context import context_for
from .policy import retry_options

_common = {"cache_policy": NO_CACHE, **retry_options()}


@task(name="ensure-managed-app", task_run_name="ensure-managed-app-{spec.name}", **_common)
def ensure_managed_app_task(spec: CustomerSpec, dry_run: bool = False) -> StepResult:
    from onboarding.steps.managed_app import ensure_managed_app

    return ensure_managed_app(context_for(spec), dry_run=dry_run)


@task(name="discover-cluster", task_run_name="discover-cluster-{spec.name}", **_common)
def discover_cluster_task(spec: CustomerSpec) -> tuple[ClusterInfo, StepResult]:
    """The cluster, and what discovery found (for the report)."""
    from onboarding.steps.discover import discover

    return discover(context_for(spec))


@task(name="ensure-storage-reader", task_run_name="ensure-storage-reader-{spec.name}", **_common)
def ensure_storage_reader_task(spec: CustomerSpec, cluster: ClusterInfo, dry_run: bool = False) -> StepResult:
    from onboarding.azure.storage import ensure_storage_reader

    return ensure_storage_reader(context_for(spec), cluster, dry_run=dry_run)


@task(name="ensure-node-rg-roles", task_run_name="ensure-node-rg-roles-{spec.name}", **_common)
def ensure_node_rg_roles_task(spec: CustomerSpec, cluster: ClusterInfo, dry_run: bool = False) -> StepResult:
    from onboarding.steps.roles import ensure_node_rg_roles

    return ensure_node_rg_roles(context_for(spec), cluster, dry_run=dry_run)


@task(name="attach-identities", task_run_name="attach-identities-{spec.name}", **_common)
def attach_identities_task(
    spec: CustomerSpec, cluster: ClusterInfo, vmss_id: str, dry_run: bool = False
) -> StepResult:
    from onboarding.steps.attach import attach_identities

    return attach_identities(context_for(spec), cluster, vmss_id, dry_run=dry_run)


@task(name="install-pod-identity", task_run_name="install-pod-identity-{spec.name}", **_common)
def install_pod_identity_task(spec: CustomerSpec, cluster: ClusterInfo, dry_run: bool = False) -> StepResult:
    from onboarding.steps.pod_identity import install_pod_identity

    return install_pod_identity(context_for(spec), cluster, dry_run=dry_run)


@task(name="verify-storage-access", task_run_name="verify-storage-access-{spec.name}", **_common)
def verify_storage_access_task(
    spec: CustomerSpec, cluster: ClusterInfo, dry_run: bool = False, grant: bool = True
) -> StepResult:
    from onboarding.steps.verify import verify_storage_access

    return verify_storage_access(context_for(spec), cluster, dry_run=dry_run, grant=grant)


class TaskSteps:
    """The pipeline's steps (onboarding.pipeline.Steps) as these tasks; scale sets attach in parallel."""

    def __init__(self, spec: CustomerSpec) -> None:
        self.spec = spec

    def managed_app(self, *, dry_run: bool) -> StepResult:
        return ensure_managed_app_task(self.spec, dry_run)

    def discover(self) -> tuple[ClusterInfo, StepResult]:
        return discover_cluster_task(self.spec)

    def storage_reader(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult:
        return ensure_storage_reader_task(self.spec, cluster, dry_run)

    def node_roles(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult:
        return ensure_node_rg_roles_task(self.spec, cluster, dry_run)

    def attach(self, cluster: ClusterInfo, *, dry_run: bool) -> list[StepResult]:
        futures = [
            attach_identities_task.submit(self.spec, cluster, vmss_id, dry_run)
            for vmss_id in cluster.scale_sets
        ]
        return [f.result() for f in futures]

    def pod_identity(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult:
        return install_pod_identity_task(self.spec, cluster, dry_run)

    def verify(self, cluster: ClusterInfo, *, dry_run: bool, grant: bool) -> StepResult:
        return verify_storage_access_task(self.spec, cluster, dry_run, grant=grant)
