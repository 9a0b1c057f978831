"""refresh-permissions: the managed application re-applies its package's authorizations and role assignments."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.reporting import report
from onboarding.catalog import find_customer
from onboarding.settings import get_settings
from tasks.operations import refresh_permissions_task


@flow(name="refresh-permissions", flow_run_name="refresh-permissions-{customer}", log_prints=True)
def refresh_permissions(customer: str, target_version: str = "") -> dict[str, Any]:
    """POST refreshPermissions on the customer's managed application and wait until it ends.

    Args:
        customer: Catalog customer short name (its file in deployments/customers, without .yaml).
        target_version: Apply the permissions of this application version (e.g. 1.0.1); empty for the current one.
    """
    spec = find_customer(customer, get_settings().catalog_dir)
    result = refresh_permissions_task(spec, target_version or None)
    return report(result, title="Permission refresh", key="refresh-permissions")
