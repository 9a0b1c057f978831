"""onboard_customer: one customer from nothing (or anything) to "a pod reads their storage with the identity"."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.events import emit_event

from onboarding.catalog import find_customer
from onboarding.cluster import ClusterInfo
from onboarding.errors import OnboardingError
from onboarding.models import CustomerSpec
from onboarding.overrides import apply_overrides, describe
from onboarding.pipeline import STAGES, run_pipeline
from onboarding.report import onboarding_markdown, summary_row
from onboarding.results import StepResult
from onboarding.settings import get_settings
from tasks.onboarding import TaskRunner
from tasks.watch_state import remember_onboarded


def _run_steps(
    customer: CustomerSpec, dry_run: bool, steps: list[StepResult], progress: Any
) -> ClusterInfo | None:
    def advance(stage: int) -> None:
        update_progress_artifact(progress, progress=100.0 * stage / STAGES)

    return run_pipeline(TaskRunner(customer), customer, dry_run=dry_run, results=steps, progress=advance)


@flow(name="onboard-customer", flow_run_name="onboard-{customer}", log_prints=True)
def onboard_customer(
    customer: str, dry_run: bool = False, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Deploy or adopt the managed application, grant roles, attach identities, install pod identity, prove storage.

    Args:
        customer: Catalog customer short name: its entry in the worker's catalog (ONBOARDING_CATALOG_DIR,
            default deployments/customers/) is read when the run starts.
        dry_run: Plan only: read everything and report what would change, write nothing.
        overrides: For this run only, fields laid over the catalog entry, e.g. {"pod_identity": {"mode":
            "workload-identity"}} or {"storage": {"directory": "folder2"}}; null puts a field back to its default.
            Edit the catalog entry to keep a change.
    """
    spec = apply_overrides(find_customer(customer, get_settings().catalog_dir), overrides)
    changes = describe(overrides) if overrides else None
    if changes:
        get_run_logger().warning("this run overrides: %s", changes)
    return _onboard(spec, dry_run, overrides=changes)


def _onboard(customer: CustomerSpec, dry_run: bool, *, overrides: str | None) -> dict[str, Any]:
    logger = get_run_logger()
    started = time.monotonic()
    steps: list[StepResult] = []
    progress = create_progress_artifact(progress=0.0, description=f"onboarding {customer.name}")
    cluster: ClusterInfo | None = None
    failure: OnboardingError | None = None
    try:
        cluster = _run_steps(customer, dry_run, steps, progress)
        outcome = "planned" if dry_run else "verified"
    except OnboardingError as exc:
        failure = exc
        outcome = "failed"
    error = str(failure) if failure else None
    duration = time.monotonic() - started
    create_markdown_artifact(
        key=f"onboarding-{customer.name}",
        markdown=onboarding_markdown(
            customer=customer.name,
            outcome=outcome,
            dry_run=dry_run,
            steps=steps,
            cluster=cluster,
            error=error,
            overrides=overrides,
        ),
        description=f"onboarding report for {customer.name}",
    )
    summary = summary_row(
        customer=customer.name, outcome=outcome, steps=steps, duration_s=duration, error=error
    )
    if outcome == "verified" and cluster is not None:
        remember_onboarded(customer.name, cluster)
        emit_event(
            event="ama.customer.onboarded",
            resource={"prefect.resource.id": f"ama.customer.{customer.name}", "customer.id": customer.name},
            payload={"changes": summary["changes"], "seconds": summary["seconds"]},
        )
    logger.info(
        "customer %s: %s after %.1f s (%d changes)", customer.name, outcome, duration, summary["changes"]
    )
    if failure:
        raise failure
    return summary
