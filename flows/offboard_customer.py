"""offboard-customer: undo what onboarding did for a customer (a plan unless dry_run is false); the managed
application itself stays (the customer owns it)."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.events import emit_event

from flows.reporting import report
from onboarding.catalog import find_customer
from onboarding.settings import get_settings
from tasks.operations import offboard_customer_task


@flow(name="offboard-customer", flow_run_name="offboard-{customer}", log_prints=True)
def offboard_customer(customer: str, dry_run: bool = True) -> dict[str, Any]:
    """Remove this product's identities, pod identity objects, chart release and role assignments.

    Args:
        customer: Catalog customer short name (its file in deployments/customers, without .yaml).
        dry_run: Plan only (the default): read everything and report what would be removed, write nothing.
    """
    spec = find_customer(customer, get_settings().catalog_dir)
    result = offboard_customer_task(spec, dry_run)
    if not dry_run:
        emit_event(
            event="ama.customer.offboarded",
            resource={"prefect.resource.id": f"ama.customer.{customer}", "customer.id": customer},
            payload={"changes": len(result.changed)},
        )
    return report(result, title="Offboarding plan" if dry_run else "Offboarding", key="offboard")
