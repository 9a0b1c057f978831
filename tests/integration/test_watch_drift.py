"""The watcher against the sandbox: after quiet ticks, an AKS upgrade that drops the application's identity from
the node pools is drift (``aks.nodepool.drifted``), and an agent pool added through ARM is a new pool
(``aks.nodepool.created``). Each tick is the one the watch task runs: one scale set list, then ``watch.tick``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.settings import Settings
from onboarding.steps.attach import attach_identities, survey_scale_sets
from onboarding.steps.discover import discover_cluster
from onboarding.watch import CREATED, DRIFTED, WatchState, onboarded_state, tick
from sandbox.client import SandboxProcess
from tools.cloud_actions import add_agent_pool
from tools.customers import register_customer

from .adopted import adopted_spec

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("watch_drift")]

REPO = Path(__file__).resolve().parents[2]
Adopted = tuple[CustomerContext, ClusterInfo]


@pytest.fixture(scope="module")
def attached(sandbox: SandboxProcess) -> Adopted:
    """A Marketplace customer, adopted, with the application's identity attached to every node pool."""
    name = "watchdrift"
    spec = adopted_spec(name)
    register_customer(sandbox, spec)
    settings = Settings(
        helm_executable=shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm"),
        poll_interval_s=0.05,
        retry_base_delay_s=0.1,
        retry_max_delay_s=0.5,
        propagation_budget_s=30.0,
        deployment_timeout_s=60.0,
    )
    ctx = CustomerContext(spec, settings)
    cluster = discover_cluster(ctx)
    for vmss_id in cluster.scale_sets:
        assert attach_identities(ctx, cluster, vmss_id).changed
    return ctx, cluster


def _tick(ctx: CustomerContext, state: WatchState) -> tuple[dict[str, str], WatchState]:
    findings, state = tick(state, survey_scale_sets(ctx, state.cluster))
    return {f.vmss_name.split("-")[1]: f.kind.value for f in findings}, state


def test_upgrade_after_quiet_ticks_is_drift_and_a_new_agent_pool_is_created(
    sandbox: SandboxProcess, attached: Adopted
) -> None:
    ctx, cluster = attached
    state = onboarded_state(cluster)  # what onboard-customer saves after a verified run
    for _ in range(2):
        kinds, state = _tick(ctx, state)
        assert kinds == {}, "quiet tick"

    sandbox.upgrade_cluster(cluster.cluster_id)
    kinds, state = _tick(ctx, state)
    assert kinds == {"nodepool1": DRIFTED}

    add_agent_pool(sandbox, ctx.spec, "batch")
    kinds, state = _tick(ctx, state)
    assert kinds == {"nodepool1": DRIFTED, "batch": CREATED}, "not repaired yet: still drift, and a new pool"

    for vmss_id in survey_scale_sets(ctx, cluster).gaps():  # what attach-node-pool does for each event
        attach_identities(ctx, cluster, vmss_id)
    kinds, state = _tick(ctx, state)
    assert kinds == {}
    sandbox.upgrade_cluster(cluster.cluster_id)
    kinds, state = _tick(ctx, state)
    assert kinds == {"nodepool1": DRIFTED, "batch": DRIFTED}, "once seen complete, the new pool drifts too"
