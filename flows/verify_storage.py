"""verify-storage: the publisher-side storage check on its own (no probe pod)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.reporting import report
from onboarding.catalog import find_customer
from onboarding.settings import get_settings
from tasks.operations import verify_storage_task


@flow(name="verify-storage", flow_run_name="verify-storage-{customer}", log_prints=True)
def verify_storage(customer: str) -> dict[str, Any]:
    """List and read the customer's ADLS Gen2 storage from the worker as the application's identity (listTokens).

    Args:
        customer: Catalog customer short name (its file in deployments/customers, without .yaml).
    """
    spec = find_customer(customer, get_settings().catalog_dir)
    return report(verify_storage_task(spec), title="Storage check from the publisher", key="verify-storage")
