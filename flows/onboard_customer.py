"""onboard_customer: one customer from nothing (or anything) to "a pod reads their storage with the identity"."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.events import emit_event

from onboarding.cluster import ClusterInfo
from onboarding.errors import OnboardingError
from onboarding.models import CustomerSpec
from onboarding.pipeline import STAGES, run_pipeline
from onboarding.report import onboarding_markdown, summary_row
from onboarding.results import StepResult
from tasks.onboarding import TaskRunner
from tasks.watch_state import remember_onboarded


def _run_steps(
    customer: CustomerSpec, dry_run: bool, steps: list[StepResult], progress: Any
) -> ClusterInfo | None:
    def advance(stage: int) -> None:
        update_progress_artifact(progress, progress=100.0 * stage / STAGES)

    return run_pipeline(TaskRunner(customer), customer, dry_run=dry_run, results=steps, progress=advance)


@flow(name="onboard-customer", flow_run_name="onboard-{customer.name}", log_prints=True)
def onboard_customer(customer: CustomerSpec, dry_run: bool = False) -> dict[str, Any]:
    """Deploy or adopt the managed application, grant roles, attach identities, install pod identity, prove storage.

    Args:
        customer: Who to onboard and how, prefilled from this customer's catalog entry in deployments/customers/.
            Changes here apply to this run only; edit the catalog entry to keep them.
        dry_run: Plan only: read everything and report what would change, write nothing.
    """
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
