"""refreshPermissions: the Managed Applications service re-applies the publisher's authorizations of the
definition or plan (optionally of plan version ``targetVersion``), as the publisher does after changing them in
Partner Center. It does not redeploy the template: a role assignment the template made and someone deleted is
not restored by it. A long-running operation, polled until it ends.

``target_version`` moves a Marketplace customer to that plan version: onboarding then takes the version's path
(from 1.2.0 the template's Storage Blob Data Reader is read, not written, when present: a customer who onboarded
on an older version holds the publisher's grant, so it needs none)."""

from __future__ import annotations

from ..azure import managed_app, template_versions
from ..context import CustomerContext
from ..errors import PermanentError
from ..results import StepResult
from ..steps import StepRecorder

STEP = "refresh_permissions"


def refresh_permissions(ctx: CustomerContext, *, target_version: str | None = None) -> StepResult:
    """POST refreshPermissions on the customer's application and wait until the operation ends."""
    rec = StepRecorder(ctx, STEP, dry_run=False)
    name = ctx.spec.managed_application.name
    version = f" to version {target_version}" if target_version else ""
    with ctx.errors(STEP, f"refresh permissions of managed application {name}{version}"):
        operation = managed_app.begin_refresh_permissions(
            ctx.resources, ctx.application_id, target_version=target_version
        )

    def finished() -> tuple[str, str | None] | None:
        with ctx.errors(STEP, f"poll refreshPermissions of managed application {name}"):
            status, error = managed_app.operation_status(ctx.resources, operation)
        return (status, error) if status.lower() in managed_app.TERMINAL_STATES else None

    (status, error), waited = ctx.poll(
        finished, timeout_s=ctx.settings.deployment_timeout_s, what=f"refreshPermissions of {name}"
    )
    rec.waited(waited)
    if status.lower() != "succeeded":
        raise PermanentError(
            f"refreshPermissions of managed application {name}{version} ended {status}: {error or 'no details'}",
            customer=ctx.spec.name,
            step=STEP,
            hint="check the application's definition (or plan version) and its authorizations",
        )
    rec.changed(f"refreshed permissions of managed application {name}{version}", "")
    with ctx.errors(STEP, f"read managed application {name}"):
        now_on = template_versions.read_version(ctx.resources, ctx.application_id)
    return rec.finish(
        application_id=ctx.application_id, target_version=target_version, status=status, version=now_on
    )
