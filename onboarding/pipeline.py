"""The onboarding steps chained as plain function calls, without Prefect: for `plan` on the command line and for
measuring orchestration overhead. The Prefect flow (flows/onboard_customer.py) runs the same steps as tasks."""

from __future__ import annotations

from .azure.storage import ensure_storage_reader
from .cluster import ClusterInfo
from .context import CustomerContext
from .models import CustomerSpec
from .results import StepResult
from .steps.attach import attach_identities
from .steps.discover import discover
from .steps.managed_app import ensure_managed_app
from .steps.pod_identity import install_pod_identity
from .steps.roles import ensure_node_rg_roles
from .steps.verify import verify_storage_access


def run_onboarding(ctx: CustomerContext, *, dry_run: bool) -> tuple[list[StepResult], ClusterInfo | None]:
    steps = [ensure_managed_app(ctx, dry_run=dry_run)]
    if dry_run and not steps[0].details.get("exists", True):
        return steps, None
    cluster, found = discover(ctx)
    steps.append(found)
    early = grants_reader_early(ctx.spec, cluster)
    if early:
        steps.append(ensure_storage_reader(ctx, cluster, dry_run=dry_run))
    steps.append(ensure_node_rg_roles(ctx, cluster, dry_run=dry_run))
    steps.extend(attach_identities(ctx, cluster, vmss_id, dry_run=dry_run) for vmss_id in cluster.scale_sets)
    steps.append(install_pod_identity(ctx, cluster, dry_run=dry_run))
    steps.append(verify_storage_access(ctx, cluster, dry_run=dry_run, grant=not early))
    return steps, cluster


def grants_reader_early(spec: CustomerSpec, cluster: ClusterInfo) -> bool:
    """Grant Storage Blob Data Reader right after discovery rather than in verify: its propagation (as slow as the
    deployment's) then runs while roles, scale sets and pod identity are done, instead of after them."""
    return spec.storage.grant_reader and cluster.storage_account_id is not None
