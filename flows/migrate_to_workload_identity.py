"""migrate-to-workload-identity: move one customer from aad-pod-identity to Azure AD Workload Identity (a plan
unless dry_run is false); its report carries the catalog change to commit, or why it stopped."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.reporting import report
from onboarding.catalog import find_customer
from onboarding.errors import OnboardingError
from onboarding.migration_report import migration_failure_markdown, migration_markdown
from onboarding.settings import get_settings
from tasks.operations import migrate_to_workload_identity_task

KEY = "migrate"


@flow(name="migrate-to-workload-identity", flow_run_name="migrate-{customer}", log_prints=True)
def migrate_to_workload_identity(
    customer: str, dry_run: bool = True, restart_workloads: bool = False
) -> dict[str, Any]:
    """Enable the OIDC issuer and workload identity, federate the service account, prove storage through both
    paths, then remove what the product added for pod identity.

    Args:
        customer: Catalog customer short name (its file in deployments/customers, without .yaml).
        dry_run: Plan only (the default): read everything and report what would change, write nothing.
        restart_workloads: Rollout-restart the Deployments whose running pods still take their token from pod
            identity (their templates must ask for workload identity); off: the run stops and names those pods.
    """
    spec = find_customer(customer, get_settings().catalog_dir)
    try:
        result = migrate_to_workload_identity_task(spec, dry_run, restart_workloads)
    except OnboardingError as exc:
        create_markdown_artifact(
            key=f"{KEY}-{customer}",
            markdown=migration_failure_markdown(customer, exc),
            description=f"Migration of {customer} to workload identity",
        )
        raise
    title = "Migration plan" if dry_run else "Migration"
    return report(result, title=title, key=KEY, markdown=migration_markdown(result))
