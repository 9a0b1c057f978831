"""The onboarding pipeline, declared once: which step runs when, and what it needs.

``run_pipeline`` holds the order and the conditions; a ``Steps`` implementation says how each step runs: as plain
function calls here (``PlainSteps``: ``plan``, ``onboard`` on the command line, the benchmarks) or as Prefect tasks
with their retry policy (flows/onboard_customer.py). Changing the order or adding a step is an edit of this file
(and of each ``Steps`` implementation when the step is new).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

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

STAGES = 6


class Steps(Protocol):
    """How each step of the pipeline runs."""

    def managed_app(self, *, dry_run: bool) -> StepResult: ...

    def discover(self) -> tuple[ClusterInfo, StepResult]: ...

    def storage_reader(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult: ...

    def node_roles(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult: ...

    def attach(self, cluster: ClusterInfo, *, dry_run: bool) -> list[StepResult]:
        """One attach per scale set of the cluster (a runner may run them in parallel)."""
        ...

    def pod_identity(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult: ...

    def verify(self, cluster: ClusterInfo, *, dry_run: bool, grant: bool) -> StepResult: ...


def run_pipeline(
    steps: Steps,
    spec: CustomerSpec,
    *,
    dry_run: bool,
    results: list[StepResult],
    progress: Callable[[int], None] = lambda stage: None,
) -> ClusterInfo | None:
    """Run the steps in order, appending each result as it comes (a failure leaves the ones before it there);
    ``progress`` hears each of the ``STAGES`` as it ends. None when a plan stops at a missing application."""
    app = steps.managed_app(dry_run=dry_run)
    results.append(app)
    progress(1)
    if dry_run and not app.details.get("exists", True):
        return None
    cluster, found = steps.discover()
    results.append(found)
    early = grants_reader_early(spec, cluster)
    if early:
        results.append(steps.storage_reader(cluster, dry_run=dry_run))
    progress(2)
    results.append(steps.node_roles(cluster, dry_run=dry_run))
    progress(3)
    results.extend(steps.attach(cluster, dry_run=dry_run))
    progress(4)
    results.append(steps.pod_identity(cluster, dry_run=dry_run))
    progress(5)
    results.append(steps.verify(cluster, dry_run=dry_run, grant=not early))
    progress(6)
    return cluster


def grants_reader_early(spec: CustomerSpec, cluster: ClusterInfo) -> bool:
    """Grant Storage Blob Data Reader right after discovery rather than in verify: its propagation (as slow as the
    deployment's) then runs while roles, scale sets and pod identity are done, instead of after them."""
    return spec.storage.grant_reader and cluster.storage_account_id is not None


class PlainSteps:
    """Each step as a plain call with one customer context (no retries: a re-run resumes)."""

    def __init__(self, ctx: CustomerContext) -> None:
        self.ctx = ctx

    def managed_app(self, *, dry_run: bool) -> StepResult:
        return ensure_managed_app(self.ctx, dry_run=dry_run)

    def discover(self) -> tuple[ClusterInfo, StepResult]:
        return discover(self.ctx)

    def storage_reader(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult:
        return ensure_storage_reader(self.ctx, cluster, dry_run=dry_run)

    def node_roles(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult:
        return ensure_node_rg_roles(self.ctx, cluster, dry_run=dry_run)

    def attach(self, cluster: ClusterInfo, *, dry_run: bool) -> list[StepResult]:
        return [
            attach_identities(self.ctx, cluster, vmss_id, dry_run=dry_run) for vmss_id in cluster.scale_sets
        ]

    def pod_identity(self, cluster: ClusterInfo, *, dry_run: bool) -> StepResult:
        return install_pod_identity(self.ctx, cluster, dry_run=dry_run)

    def verify(self, cluster: ClusterInfo, *, dry_run: bool, grant: bool) -> StepResult:
        return verify_storage_access(self.ctx, cluster, dry_run=dry_run, grant=grant)


def run_onboarding(ctx: CustomerContext, *, dry_run: bool) -> tuple[list[StepResult], ClusterInfo | None]:
    """The pipeline as plain calls: its results (so far, when a step raised) and the cluster."""
    results: list[StepResult] = []
    cluster = run_pipeline(PlainSteps(ctx), ctx.spec, dry_run=dry_run, results=results)
    return results, cluster
