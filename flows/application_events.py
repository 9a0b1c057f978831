"""application-event: what a managed application notification starts (the receiver's ama.application.* events).

provisioned: a catalog customer's onboarding starts; an application not in the catalog gets a proposed catalog
entry (an artifact with the YAML and an ``ama.customer.proposed`` event), written to the catalog and onboarded
when automatic intake is on (ONBOARDING_INTAKE_AUTO). failed: a report naming the deployment's error. deleted: the
offboarding plan (dry run) as a report.
"""

from __future__ import annotations

from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.events import emit_event
from prefect.exceptions import ObjectNotFound

from flows.reporting import report
from onboarding.catalog import find_customer, load_catalog
from onboarding.errors import InvalidSpecError, OnboardingError
from onboarding.ids import ResourceId
from onboarding.intake import (
    DELETED,
    FAILED,
    PROPOSED,
    PROVISIONED,
    catalog_customer,
    failure_markdown,
    proposal_markdown,
    propose_spec,
    spec_yaml,
    write_entry,
)
from onboarding.models import CustomerSpec
from onboarding.redact import redact
from onboarding.settings import get_settings
from tasks.fleet import FLEET_DEPLOYMENT
from tasks.intake import read_application_task
from tasks.operations import offboard_customer_task


def _key(text: str) -> str:
    """An artifact key (lower-case letters, digits, dashes) from a name."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _start_onboarding(name: str, event_id: str) -> str:
    """Start the customer's onboarding (its own deployment, else the fleet's by-name one for a customer added
    since the last deploy) without waiting; one run per event, however often this flow is retried. Returns the
    run's id (its name changes when it starts)."""
    key = f"application-event-{event_id or name}"
    try:
        run = run_deployment(f"onboard-customer/{name}", timeout=0, idempotency_key=key)
    except ObjectNotFound:
        run = run_deployment(
            FLEET_DEPLOYMENT, parameters={"customer": name, "dry_run": False}, timeout=0, idempotency_key=key
        )
    started = cast(FlowRun, run)
    get_run_logger().info("started onboarding of %s: flow run %s", name, started.id)
    return str(started.id)


def _provisioned(app_id: str, spec: CustomerSpec | None, event_id: str) -> dict[str, Any]:
    if spec is not None:
        return {"customer": spec.name, "onboarding": _start_onboarding(spec.name, event_id)}
    settings = get_settings()
    app = read_application_task(app_id)
    proposal = propose_spec(app, {s.name for s in load_catalog(settings.catalog_dir)})
    text = spec_yaml(proposal, app)
    written = write_entry(proposal, text, settings.catalog_dir) if settings.intake_auto else None
    create_markdown_artifact(
        key=f"intake-{proposal.name}",
        markdown=proposal_markdown(proposal, text, app, written),
        description=f"Catalog entry proposed for application {app.name}",
    )
    emit_event(
        event=PROPOSED,
        resource={
            "prefect.resource.id": f"ama.customer.{proposal.name}",
            "customer.id": proposal.name,
            "azure.application.id": app.id,
        },
        payload={"yaml": text, "written": str(written) if written else ""},
    )
    result: dict[str, Any] = {"customer": proposal.name, "proposed": text, "written": bool(written)}
    if written:
        result["onboarding"] = _start_onboarding(proposal.name, event_id)
    return result


def _failed(app_id: str, error: Any) -> dict[str, Any]:
    try:
        state: str | None = read_application_task(app_id).provisioning_state
    except OnboardingError as exc:
        get_run_logger().warning("application %s not readable: %s", app_id, redact(str(exc)))
        state = None
    create_markdown_artifact(
        key=f"application-failed-{_key(ResourceId(app_id).name)}",
        markdown=failure_markdown(app_id, error, state),
        description=f"Deployment failure of application {ResourceId(app_id).name}",
    )
    return {"application": app_id, "error": error, "state": state}


def _deleted(app_id: str, spec: CustomerSpec | None) -> dict[str, Any]:
    if spec is None:
        get_run_logger().info("application %s is in no catalog entry: nothing to offboard", app_id)
        return {"application": app_id, "customer": None}
    try:
        result = offboard_customer_task(spec, True)
    except OnboardingError as exc:  # the application, and its managed resource group with it, may be gone
        message = redact(str(exc))
        create_markdown_artifact(
            key=f"offboard-{spec.name}",
            markdown=f"# Offboarding plan of {spec.name}\n\nThe plan could not be read: {message}\n\n"
            f"Remove `{spec.name}.yaml` from the catalog once nothing of the customer's is left.",
            description=f"Offboarding plan of {spec.name}",
        )
        return {"application": app_id, "customer": spec.name, "plan": None, "error": message}
    return report(result, title="Offboarding plan", key="offboard")


@flow(name="application-event", flow_run_name="application-{customer}-{event}", log_prints=True)
def application_event(
    event: str,
    application_id: str,
    customer: str = "",
    payload: dict[str, Any] | None = None,
    event_id: str = "",
) -> dict[str, Any]:
    """React to one managed application notification.

    Args:
        event: ama.application.provisioned, ama.application.failed or ama.application.deleted.
        application_id: The application's resource id (the event's azure.application.id label).
        customer: The catalog customer naming that application (customer.id label; "" when none did when the
            notification arrived: the catalog is looked up again).
        payload: The event's payload (eventType, provisioningState, plan or applicationDefinitionId, error).
        event_id: Id of that event, for tracing and so that a retried run starts one onboarding.
    """
    if not ResourceId(application_id).valid:
        raise InvalidSpecError(
            f"event {event_id or '?'} names no application ({application_id!r})", hint="check the event"
        )
    catalog = get_settings().catalog_dir
    spec = find_customer(customer, catalog) if customer else catalog_customer(application_id, catalog)
    if event == PROVISIONED:
        return _provisioned(application_id, spec, event_id)
    if event == FAILED:
        return _failed(application_id, (payload or {}).get("error"))
    if event == DELETED:
        return _deleted(application_id, spec)
    raise InvalidSpecError(
        f"application-event does not handle {event!r}", hint="check the deployment's trigger"
    )
