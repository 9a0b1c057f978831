"""audit-role-assignments: the role assignments at the managed and node resource groups and the storage account
against what onboarding expects; a table artifact; unexpected ones deleted only when asked and only when provably
this product's."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.reporting import report
from onboarding.catalog import find_customer
from onboarding.settings import get_settings
from tasks.operations import audit_role_assignments_task


@flow(name="audit-role-assignments", flow_run_name="audit-role-assignments-{customer}", log_prints=True)
def audit_role_assignments(customer: str, delete_unexpected: bool = False) -> dict[str, Any]:
    """Classify the customer's role assignments as expected and present, missing, or unexpected.

    Args:
        customer: Catalog customer short name (its file in deployments/customers, without .yaml).
        delete_unexpected: Delete the unexpected assignments this product can prove it made (its deterministic
            name for one of the customer's identities); all others are left and reported "left: not ours".
    """
    spec = find_customer(customer, get_settings().catalog_dir)
    result = audit_role_assignments_task(spec, delete_unexpected)
    create_table_artifact(
        key=f"role-assignments-{customer}",
        table=result.details["rows"],
        description=f"role assignments of {customer}: {result.details['counts']}",
    )
    return report(result, title="Role assignment audit", key="audit-role-assignments")
