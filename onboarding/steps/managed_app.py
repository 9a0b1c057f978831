"""Step 1: the managed application exists and has finished deploying (created here, or adopted)."""

from __future__ import annotations

import time
from typing import Any

from azure.mgmt.resource.resources.models import GenericResource

from ..azure import managed_app
from ..context import CustomerContext
from ..deadline import remaining
from ..errors import AuthorizationPendingError, InvalidSpecError, PermanentError, TransientError
from ..results import StepResult
from . import StepRecorder

STEP = "ensure_managed_app"


def ensure_managed_app(ctx: CustomerContext, *, dry_run: bool = False) -> StepResult:
    rec = StepRecorder(ctx, STEP, dry_run=dry_run)
    app_spec = ctx.spec.managed_application
    app_id = ctx.application_id
    app = _read(ctx, dry_run=dry_run)
    if app is None:
        if app_spec.adopt_only:
            raise PermanentError(
                f"managed application {app_id} does not exist and the spec says adopt_only",
                customer=ctx.spec.name,
                step=STEP,
                hint="ask the customer to deploy it (Marketplace) or clear adopt_only",
            )
        body = _creation_body(ctx)
        rec.changed(
            f"created managed application {app_spec.name} ({body['kind']})",
            f"create managed application {app_spec.name} ({body['kind']}) with managed resource group "
            f"{app_spec.managed_resource_group_name}",
        )
        if dry_run:
            return rec.finish(exists=False, application_id=app_id, body=body)
        app = _create(ctx, rec, app_id, body)
    else:
        rec.unchanged(f"managed application {app_spec.name} exists ({app.kind}, {managed_app.state_of(app)})")
        app = _wait_terminal(ctx, rec, app)
    return _finish(ctx, rec, app)


def _read(ctx: CustomerContext, *, dry_run: bool) -> GenericResource | None:
    """The application, or None when ARM says it does not exist (``ResourceNotFound``). A plan refuses at once
    when access is refused (ARM checks access before existence, so it cannot know); a real run lets the task
    retry it while it may be a fresh role assignment propagating."""
    app_spec = ctx.spec.managed_application
    try:
        with ctx.errors(STEP, f"read managed application {app_spec.name}"):
            return managed_app.get_application(ctx.resources, ctx.application_id)
    except AuthorizationPendingError as exc:
        if not dry_run:
            raise
        raise PermanentError(
            f"{exc.detail} (cannot plan: the application may or may not exist)",
            customer=ctx.spec.name,
            step=STEP,
            code=exc.code,
            status=exc.status,
            correlation_id=exc.correlation_id,
            hint=f"the publisher principal may not read resource group {app_spec.resource_group} of subscription "
            f"{ctx.spec.subscription_id} (or it does not exist: ARM checks access first): check "
            "managed_application.resource_group and subscription_id in the customer spec, and ask the customer "
            "to give the publisher a role there (Contributor to deploy, Reader to adopt)",
        ) from None


def _creation_body(ctx: CustomerContext) -> dict[str, Any]:
    body = managed_app.application_body(
        ctx.spec, default_definition_id=ctx.settings.application_definition_id
    )
    if body["kind"] == "ServiceCatalog" and not body["properties"]["applicationDefinitionId"]:
        raise InvalidSpecError(
            "no application definition: the spec names neither definition_id nor plan and "
            "ONBOARDING_APPLICATION_DEFINITION_ID is not set",
            customer=ctx.spec.name,
            step=STEP,
            hint="set managed_application.definition_id or plan",
        )
    return body


def _create(ctx: CustomerContext, rec: StepRecorder, app_id: str, body: dict[str, Any]) -> GenericResource:
    app_spec = ctx.spec.managed_application
    started = time.monotonic()
    with ctx.errors(STEP, f"create managed application {app_spec.name}"):
        poller = managed_app.begin_create(ctx.resources, app_id, body)
        app = poller.result(timeout=remaining(ctx.settings.deployment_timeout_s))
    rec.waited(time.monotonic() - started)
    if not poller.done():
        raise TransientError(
            f"managed application {app_spec.name} still deploying after {time.monotonic() - started:.0f} s",
            customer=ctx.spec.name,
            step=STEP,
            hint="the next attempt waits for the same deployment",
        )
    return app


def _wait_terminal(ctx: CustomerContext, rec: StepRecorder, app: GenericResource) -> GenericResource:
    if managed_app.state_of(app).lower() in managed_app.TERMINAL_STATES:
        return app
    app_spec = ctx.spec.managed_application

    def current() -> GenericResource | None:
        with ctx.errors(STEP, f"read managed application {app_spec.name}"):
            found = managed_app.get_application(ctx.resources, ctx.application_id)
        if found is None:
            raise PermanentError(
                f"managed application {app_spec.name} disappeared while deploying",
                customer=ctx.spec.name,
                step=STEP,
            )
        return found if managed_app.state_of(found).lower() in managed_app.TERMINAL_STATES else None

    app, waited = ctx.poll(
        current,
        timeout_s=ctx.settings.deployment_timeout_s,
        what=f"managed application {app_spec.name} deployment",
    )
    rec.waited(waited)
    return app


def _finish(ctx: CustomerContext, rec: StepRecorder, app: GenericResource) -> StepResult:
    state = managed_app.state_of(app)
    props = app.properties or {}
    if state.lower() != "succeeded":
        raise PermanentError(
            f"managed application {ctx.spec.managed_application.name} is {state or 'unknown'}: "
            f"{props.get('error') or props.get('provisioningError') or 'no error details'}",
            customer=ctx.spec.name,
            step=STEP,
            hint="fix the deployment error in the customer's subscription, then redeploy",
        )
    return rec.finish(
        exists=True,
        application_id=app.id,
        kind=app.kind,
        managed_resource_group_id=props.get("managedResourceGroupId"),
        provisioning_state=state,
        outputs=managed_app.outputs_of(app),
    )
