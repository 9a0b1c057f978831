"""The node pool event path: watch_node_pools (every minute) emits events; attach_node_pool (triggered by them)
attaches the customer's identities to that one scale set."""

from __future__ import annotations

import time
from typing import Any, cast

from prefect import flow, get_run_logger

from onboarding.catalog import find_customer, select
from onboarding.cluster import ClusterInfo
from onboarding.errors import InvalidSpecError, PermanentError
from onboarding.pipeline import StepInput
from onboarding.results import StepResult
from onboarding.settings import get_settings
from tasks.node_pools import watch_customer_task
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


@flow(name="attach-node-pool", flow_run_name="attach-{customer}-{reason}", log_prints=True)
def attach_node_pool(
    customer: str, vmss_id: str, reason: str = "manual", event_id: str = ""
) -> dict[str, Any]:
    """Attach the customer's identities to one node pool scale set (new or drifted), keeping what is there.

    Args:
        customer: Catalog customer short name (from the event's customer.id label).
        vmss_id: Resource id of the scale set (from the event's azure.vmss.id label).
        reason: The event that started this run, or "manual".
        event_id: Id of that event, for tracing.
    """
    if not customer or not vmss_id:
        raise InvalidSpecError(
            f"event {event_id or '?'} lacks customer.id or azure.vmss.id labels",
            customer=customer or None,
            hint="check the watcher's event labels",
        )
    started = time.monotonic()
    spec = find_customer(customer, get_settings().catalog_dir)
    cluster, _ = cast(tuple[ClusterInfo, StepResult], STEP_TASKS["discover-cluster"](spec, StepInput()))
    if not vmss_id.lower().startswith(cluster.node_resource_group_id.lower() + "/"):
        raise PermanentError(
            f"scale set {vmss_id} is not in node resource group {cluster.node_resource_group}",
            customer=customer,
            step="attach-node-pool",
            hint="the event names a foreign scale set",
        )
    result = cast(
        StepResult, STEP_TASKS["attach-identities"](spec, StepInput(cluster=cluster, scale_set=vmss_id))
    )
    if spec.storage.recheck_on_node_pool_change:
        STEP_TASKS["verify-storage-access"](spec, StepInput(cluster=cluster))
    seconds = time.monotonic() - started
    name = vmss_id.rstrip("/").rsplit("/", 1)[-1]
    get_run_logger().info(
        "node pool %s: identity attached in %.1f s (%s)",
        name,
        seconds,
        "; ".join(result.changed) or "already complete",
    )
    return {"customer": customer, "vmss": name, "changed": result.changed, "seconds": round(seconds, 1)}
