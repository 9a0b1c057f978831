"""Tasks of the node pool event path: look for gaps (one ARM list per customer) and report them as events."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from onboarding.models import CustomerSpec
from onboarding.steps.attach import survey_scale_sets
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
