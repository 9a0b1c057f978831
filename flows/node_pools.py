"""The node pool event path. Push: Azure's writes (Event Grid, through the receiver) start attach_node_pool for an
agent pool or scale set write and check_node_pools for a cluster write. Safety net: watch_node_pools (every
ONBOARDING_WATCH_INTERVAL_S) emits an event per scale set lacking an identity, which starts attach_node_pool too."""

from __future__ import annotations

import time
from typing import Any, cast

from prefect import flow, get_run_logger

from onboarding.catalog import find_customer, select
from onboarding.cluster import ClusterInfo
from onboarding.errors import InvalidSpecError, PermanentError
from onboarding.ids import ResourceId
from onboarding.models import CustomerSpec
from onboarding.pipeline import StepInput
from onboarding.results import StepResult
from onboarding.settings import get_settings
from tasks.node_pools import resolve_agent_pool_task, scale_set_gaps_task, watch_customer_task
from tasks.onboarding import STEP_TASKS


@flow(name="watch-node-pools", log_prints=True)
def watch_node_pools(customers: list[str] | None = None) -> dict[str, list[str]]:
    """List each customer's node pool scale sets once and emit an event for each one lacking an identity.

    Args:
        customers: Only these catalog customers (default: all); a name not in the catalog fails the run, naming
            it, before any cloud call.
    """
    specs = select(customers, get_settings().catalog_dir)
    futures = {spec.name: watch_customer_task.submit(spec) for spec in specs}
    found = {name: future.result() for name, future in futures.items()}
    get_run_logger().info("watched %d customers, %d events", len(found), sum(len(v) for v in found.values()))
    return found


def _discover(spec: CustomerSpec) -> ClusterInfo:
    cluster, _ = cast(tuple[ClusterInfo, StepResult], STEP_TASKS["discover-cluster"](spec, StepInput()))
    return cluster


def _attach(spec: CustomerSpec, cluster: ClusterInfo, vmss_id: str) -> StepResult:
    """Attach what the scale set lacks; the storage probe re-runs (when the spec asks) only after a change: a run
    that finds nothing missing writes nothing, in Azure or in the cluster."""
    result = cast(
        StepResult, STEP_TASKS["attach-identities"](spec, StepInput(cluster=cluster, scale_set=vmss_id))
    )
    if result.changed and spec.storage.recheck_on_node_pool_change:
        STEP_TASKS["verify-storage-access"](spec, StepInput(cluster=cluster))
    return result


@flow(name="attach-node-pool", flow_run_name="attach-{customer}-{reason}", log_prints=True)
def attach_node_pool(
    customer: str, vmss_id: str = "", reason: str = "manual", event_id: str = "", agent_pool_id: str = ""
) -> dict[str, Any]:
    """Attach the customer's identities to one node pool scale set (new, written or drifted), keeping what is there.

    Args:
        customer: Catalog customer short name (from the event's customer.id label).
        vmss_id: Resource id of the scale set (from the event's azure.vmss.id label); or give agent_pool_id.
        reason: The event that started this run, or "manual".
        event_id: Id of that event, for tracing.
        agent_pool_id: Resource id of an AKS agent pool (the azure.agentpool.id label of aks.agentpool.written)
            instead of vmss_id: its scale set is the one tagged aks-managed-poolName with the pool's name.
    """
    if not customer or not (vmss_id or agent_pool_id):
        raise InvalidSpecError(
            f"event {event_id or '?'} lacks customer.id or azure.vmss.id/azure.agentpool.id labels",
            customer=customer or None,
            hint="check the event's labels",
        )
    started = time.monotonic()
    spec = find_customer(customer, get_settings().catalog_dir)
    cluster = _discover(spec)
    if not vmss_id:
        vmss_id = resolve_agent_pool_task(spec, cluster, agent_pool_id)
    if not vmss_id.lower().startswith(cluster.node_resource_group_id.lower() + "/"):
        raise PermanentError(
            f"scale set {vmss_id} is not in node resource group {cluster.node_resource_group}",
            customer=customer,
            step="attach-node-pool",
            hint="the event names a foreign scale set",
        )
    result = _attach(spec, cluster, vmss_id)
    seconds = time.monotonic() - started
    name = vmss_id.rstrip("/").rsplit("/", 1)[-1]
    if result.changed:
        get_run_logger().info(
            "node pool %s: identity attached in %.1f s (%s)", name, seconds, "; ".join(result.changed)
        )
    else:
        get_run_logger().info("node pool %s: no identity missing, nothing written (%.1f s)", name, seconds)
    return {"customer": customer, "vmss": name, "changed": result.changed, "seconds": round(seconds, 1)}


@flow(name="check-node-pools", flow_run_name="check-{customer}-{reason}", log_prints=True)
def check_node_pools(
    customer: str, cluster_id: str = "", reason: str = "manual", event_id: str = ""
) -> dict[str, Any]:
    """Attach what is missing on every node pool scale set of the customer's cluster (after a cluster write: an
    upgrade or a change of its pools); one scale set list, a write only where an identity is missing.

    Args:
        customer: Catalog customer short name (from the event's customer.id label).
        cluster_id: Resource id of the cluster written (the azure.cluster.id label), checked against the
            customer's; empty: the customer's cluster.
        reason: The event that started this run, or "manual".
        event_id: Id of that event, for tracing.
    """
    if not customer:
        raise InvalidSpecError(f"event {event_id or '?'} lacks the customer.id label", hint="check the event")
    spec = find_customer(customer, get_settings().catalog_dir)
    cluster = _discover(spec)
    if cluster_id and ResourceId(cluster_id) != ResourceId(cluster.cluster_id):
        raise PermanentError(
            f"cluster {cluster_id} is not customer {customer}'s ({cluster.cluster_name})",
            customer=customer,
            step="check-node-pools",
            hint="the event names a foreign cluster",
        )
    gaps = scale_set_gaps_task(spec, cluster)
    changed = [change for vmss_id in sorted(gaps) for change in _attach(spec, cluster, vmss_id).changed]
    get_run_logger().info(
        "cluster %s: %s",
        cluster.cluster_name,
        f"{len(gaps)} scale sets lacked an identity: " + "; ".join(changed)
        if gaps
        else "every scale set carries every identity, nothing written",
    )
    return {"customer": customer, "cluster": cluster.cluster_name, "changed": changed}
