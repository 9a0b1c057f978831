"""Microsoft.Solutions: managed applications (PUT/GET/list/PATCH/DELETE, refreshPermissions, listTokens)."""

from __future__ import annotations

from typing import Any

from ..aad import mint_access_token
from ..httpd import Response, json_response
from ..state import Principal, World, key, new_guid
from .base import (
    RG,
    SUB,
    ArmError,
    ArmRouter,
    Call,
    now_iso,
    public,
    read_handlers,
    require,
    require_resource,
    require_rg,
    require_write,
    resource_id_of,
)
from .lro import Operations
from .managedapp import (
    APP_TYPE,
    ensure_publisher_authorizations,
    publish_all,
    publisher_authorizations,
    remove,
    start,
    validate,
)
from .msi import tenant_of_subscription
from .notifications import for_world as notifier_of
from .template.dispatch import Dispatcher

APP_READ = f"{APP_TYPE}/read"
_PLAN_FIELDS = ("name", "publisher", "product", "version")


def _app_id(call: Call) -> str:
    return resource_id_of(call, APP_TYPE)


def application_body(
    world: World, dispatcher: Dispatcher, app_id: str, body: dict[str, Any], caller: Principal
) -> dict[str, Any]:
    """The stored application for a PUT body (its template validated; provisioningState Accepted)."""
    props = body.get("properties") or {}
    sub = app_id.split("/")[2]
    if not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    kind = str(body.get("kind") or "")
    if kind.lower() == "servicecatalog":
        definition_id = props.get("applicationDefinitionId") or ""
        if world.get(definition_id) is None:
            raise ArmError(
                404,
                "ApplicationDefinitionNotFound",
                f"The application definition '{definition_id}' could not be found.",
            )
    elif kind.lower() == "marketplace":
        plan = body.get("plan") or {}
        if any(not plan.get(f) for f in _PLAN_FIELDS):
            raise ArmError(
                400,
                "InvalidApplicationPlan",
                f"A MarketPlace application needs plan {{{', '.join(_PLAN_FIELDS)}}}.",
            )
    else:
        raise ArmError(
            400, "InvalidApplicationKind", "The application kind must be 'ServiceCatalog' or 'MarketPlace'."
        )
    mrg = str(props.get("managedResourceGroupId") or "")
    parts = mrg.strip("/").split("/")
    if len(parts) != 4 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
        raise ArmError(
            400,
            "InvalidManagedResourceGroupId",
            f"properties.managedResourceGroupId '{mrg}' is not a resource group id.",
        )
    if parts[1].lower() != sub.lower():
        raise ArmError(
            400,
            "InvalidManagedResourceGroupId",
            "The managed resource group must be in the application's subscription.",
        )
    if world.get(mrg) is not None:
        raise ArmError(
            409,
            "ManagedResourceGroupExists",
            f"The managed resource group '{parts[3]}' already exists; choose a new name.",
        )
    publisher = world.publisher
    assert publisher is not None
    stored: dict[str, Any] = {
        "id": app_id,
        "name": app_id.rsplit("/", 1)[-1],
        "type": APP_TYPE,
        "location": body["location"],
        "kind": kind,
        "tags": body.get("tags") or {},
        "properties": {
            "managedResourceGroupId": mrg,
            "parameters": props.get("parameters") or {},
            "outputs": {},
            "provisioningState": "Accepted",
            "publisherTenantId": publisher.tenant_id,
            "createdBy": {"oid": caller.object_id, "applicationId": caller.client_id},
            "updatedBy": {"oid": caller.object_id, "applicationId": caller.client_id},
            "createdOn": now_iso(),
        },
        "_sandbox": {"operation": None},
    }
    if kind.lower() == "servicecatalog":
        stored["properties"]["applicationDefinitionId"] = props["applicationDefinitionId"]
    else:
        stored["plan"] = {f: body["plan"][f] for f in _PLAN_FIELDS}
        stored["properties"]["billingDetails"] = {"resourceUsageId": new_guid()}
    validate(world, dispatcher, stored)
    return stored


def put_app(call: Call, ops: Operations, dispatcher: Dispatcher) -> Response:
    app_id = _app_id(call)
    require_rg(call)
    require_write(call, f"{APP_TYPE}/write", app_id)
    body = call.body()
    with call.world.lock:
        existing = call.world.get(app_id)
        if existing is not None:
            wanted = (body.get("properties") or {}).get("managedResourceGroupId", "")
            if key(wanted) != key(existing["properties"]["managedResourceGroupId"]):
                raise ArmError(
                    400,
                    "ApplicationUpdateNotAllowed",
                    "The managed resource group of an existing application cannot change.",
                )
            headers = {}
            if existing["properties"]["provisioningState"] == "Accepted":
                headers = ops.headers(call, ops.get(existing["_sandbox"]["operation"]))
            return json_response(public(existing), 200, **headers)
        app = call.world.put(application_body(call.world, dispatcher, app_id, body, call.principal))
        op = start(call.world, dispatcher, ops, app_id)
        app["_sandbox"]["operation"] = op.id
    return json_response(public(app), 201, **ops.headers(call, op, location=True))


get_app, list_in_group, list_in_subscription = read_handlers(APP_TYPE, APP_READ)


def _succeeded_app(call: Call) -> dict[str, Any]:
    app = require_resource(call, _app_id(call), APP_TYPE)
    if app["properties"]["provisioningState"] != "Succeeded":
        raise ArmError(
            409,
            "ApplicationNotReady",
            f"The application is '{app['properties']['provisioningState']}'; wait until it Succeeded.",
        )
    return app


def patch_app(call: Call) -> Response:
    """Applications_Update: "The only value that can be updated via PATCH currently is the tags" (REST spec
    2019-07-01); answered 200 with the application, then notified as PATCH Succeeded."""
    app_id = _app_id(call)
    require_write(call, f"{APP_TYPE}/write", app_id)
    app = require_resource(call, app_id, APP_TYPE)
    tags = call.body().get("tags")
    with call.world.lock:
        if tags is not None:
            app["tags"] = tags
        app["properties"]["updatedBy"] = {
            "oid": call.principal.object_id,
            "applicationId": call.principal.client_id,
        }
        answer = public(app)
    notifier_of(call.world).notify(app, "PATCH", "Succeeded")
    return json_response(answer, 200)


def delete_app(call: Call, ops: Operations) -> Response:
    app_id = _app_id(call)
    require_write(call, f"{APP_TYPE}/delete", app_id)
    require_rg(call)
    app = call.world.get(app_id)
    if app is None:
        return Response(status=204)
    notifier = notifier_of(call.world)
    with call.world.lock:
        app["properties"]["provisioningState"] = "Deleting"
    notifier.notify(app, "DELETE", "Deleting")

    def delete() -> None:
        publish_all(call.world, remove(call.world, app_id))
        notifier.notify(app, "DELETE", "Deleted")

    op = ops.start("application.delete", call.world.timing.app_deploy_s / 2, delete)
    return json_response(None, 202, **ops.headers(call, op, location=True))


def refresh_permissions(call: Call, ops: Operations) -> Response:
    """Re-apply the publisher's authorizations from the definition or plan (``targetVersion``: the Marketplace
    plan version to move to). It does not redeploy the template: a template resource or role assignment that was
    deleted stays deleted. Evidence: the seed README (refresh "when 'Customer allowed actions' or 'Owner/
    Contributor' assigned is changed in the Partner Center by the publisher", with an optional targetVersion) and
    the REST reference (Microsoft Learn "Applications - Refresh Permissions": "Refresh Permissions for
    application", 202 until the asynchronous operation completes); neither mentions a redeployment."""
    app_id = _app_id(call)
    require(call, f"{APP_TYPE}/refreshPermissions/action", app_id)
    app = _succeeded_app(call)
    target_version = call.request.q("targetVersion")
    if target_version is not None and not target_version.strip():
        raise ArmError(400, "InvalidTargetVersion", "targetVersion must not be empty.")

    def refresh() -> None:
        with call.world.lock:
            if target_version and app.get("plan"):
                app["plan"]["version"] = target_version
        ensure_publisher_authorizations(call.world, app)

    op = ops.start("application.refreshPermissions", call.world.timing.refresh_permissions_s, refresh)
    return json_response(None, 202, **ops.headers(call, op, location=True))


def list_tokens(call: Call) -> Response:
    app_id = _app_id(call)
    app = require_resource(call, app_id, APP_TYPE)
    allowed = {p.lower() for p, _ in publisher_authorizations(call.world, app)}
    if call.principal.object_id.lower() not in allowed:
        raise ArmError(
            403,
            "AuthorizationFailed",
            f"The client '{call.principal.client_id}' with object id '{call.principal.object_id}' does not "
            f"have authorization to perform action '{APP_TYPE}/listTokens/action' over scope '{app_id}': "
            "only the application's publisher may list its tokens.",
        )
    app = _succeeded_app(call)
    body = call.body()
    audience = body.get("authorizationAudience")
    if not isinstance(audience, str) or not audience:
        raise ArmError(400, "InvalidRequestContent", "authorizationAudience is required.")
    owned = {key(i): i for i in (app.get("identity") or {}).get("userAssignedIdentities", {})}
    requested = body.get("userAssignedIdentities") or list(owned.values())
    unknown = [i for i in requested if key(i) not in owned]
    if unknown:
        raise ArmError(
            400,
            "InvalidUserAssignedIdentities",
            f"The identities {unknown} are not user-assigned identities of the application.",
        )
    tenant_id = tenant_of_subscription(call.world, app_id)
    tokens = []
    for identity_id in requested:
        principal = call.world.principal_by_resource_id(identity_id)
        assert principal is not None
        token = mint_access_token(call.world, principal, audience, tenant_id)
        tokens.append(
            {
                "access_token": token["access_token"],
                "expires_in": token["expires_in"],
                "expires_on": token["expires_on"],
                "authorizationAudience": audience,
                "resourceId": owned[key(identity_id)],
                "token_type": "Bearer",
            }
        )
    return json_response({"value": tokens})


def register(router: ArmRouter, ops: Operations, dispatcher: Dispatcher) -> None:
    one = RG + r"/providers/Microsoft\.Solutions/applications/(?P<name>[^/]+)"
    router.add("GET", SUB + r"/providers/Microsoft\.Solutions/applications", list_in_subscription)
    router.add("GET", RG + r"/providers/Microsoft\.Solutions/applications", list_in_group)
    router.add("GET", one, get_app)
    router.add("PUT", one, lambda call: put_app(call, ops, dispatcher))
    router.add("PATCH", one, patch_app)
    router.add("DELETE", one, lambda call: delete_app(call, ops))
    router.add("POST", one + r"/refreshPermissions", lambda call: refresh_permissions(call, ops))
    router.add("POST", one + r"/listTokens", list_tokens)
