"""Tasks of the node pool event path: look for gaps (one ARM list per customer) and report them as events, find an
agent pool's scale set, list the scale sets of a cluster that lack an identity."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from onboarding.cluster import ClusterInfo
from onboarding.models import CustomerSpec
from onboarding.steps.attach import RESOLVE_STEP, pool_scale_set, survey_scale_sets
from onboarding.watch import NodePoolFinding, tick

from .context import context_for
from .policy import under_policy
from .watch_state import load_watch_state, save_watch_state


def emit_finding(spec: CustomerSpec, cluster_id: str, finding: NodePoolFinding) -> None:
    emit_event(
        event=finding.kind.value,
        resource={
            "prefect.resource.id": f"aks.nodepool.{spec.name}.{finding.vmss_name}",
            "prefect.resource.name": finding.vmss_name,
            "customer.id": spec.name,
            "azure.vmss.id": finding.vmss_id,
            "azure.cluster.id": cluster_id,
        },
        payload={"missing": list(finding.missing)},
    )


@task(name="watch-customer-node-pools", task_run_name="watch-{spec.name}", cache_policy=NO_CACHE)
def watch_customer_task(spec: CustomerSpec) -> list[str]:
    """Emit one event per scale set missing an identity; returns '<kind> <scale set>' for each."""
    state = load_watch_state(spec.name)
    if state is None:
        get_run_logger().info("customer %s is not onboarded yet: nothing to watch", spec.name)
        return []
    survey = under_policy(
        lambda: survey_scale_sets(context_for(spec), state.cluster),
        step="watch-node-pools",
        customer=spec.name,
    )
    findings, next_state = tick(state, survey)
    for finding in findings:
        emit_finding(spec, state.cluster.cluster_id, finding)
    save_watch_state(spec.name, next_state)
    return [f"{f.kind.value} {f.vmss_name}" for f in findings]


@task(name="resolve-agent-pool", task_run_name="resolve-{spec.name}", cache_policy=NO_CACHE)
def resolve_agent_pool_task(spec: CustomerSpec, cluster: ClusterInfo, agent_pool_id: str) -> str:
    """The scale set id of an agent pool of the customer's cluster (waits for the pool's provisioning to end)."""
    return under_policy(
        lambda: pool_scale_set(context_for(spec), cluster, agent_pool_id),
        step=RESOLVE_STEP,
        customer=spec.name,
    )


@task(name="scale-set-gaps", task_run_name="gaps-{spec.name}", cache_policy=NO_CACHE)
def scale_set_gaps_task(spec: CustomerSpec, cluster: ClusterInfo) -> dict[str, list[str]]:
    """Every scale set of the cluster that lacks an identity -> the identity ids it lacks (one ARM list)."""
    survey = under_policy(
        lambda: survey_scale_sets(context_for(spec), cluster), step="check-node-pools", customer=spec.name
    )
    return survey.gaps()
