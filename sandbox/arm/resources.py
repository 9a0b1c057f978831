"""Microsoft.Resources: subscriptions and resource groups."""

from __future__ import annotations

from typing import Any

from .. import authz
from ..httpd import Response, json_response
from ..state import Subscription, World, key
from .base import RG, SUB, ArmError, ArmRouter, Call, paged, public, require, require_rg, require_write, rg_id

RG_TYPE = "Microsoft.Resources/resourceGroups"
RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"
RG_WRITE = "Microsoft.Resources/subscriptions/resourceGroups/write"


def subscription_body(sub: Subscription) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub.id}",
        "subscriptionId": sub.id,
        "tenantId": sub.tenant_id,
        "displayName": sub.display_name,
        "state": "Enabled",
        "authorizationSource": "RoleBased",
        # An empty list when no other tenant manages it (Azure's answer to GET /subscriptions, as quoted in
        # public transcripts of api-version 2020-01-01; az account list prints it).
        "managedByTenants": [],
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def resource_group_body(
    sub: str, name: str, location: str, *, managed_by: str | None = None, tags: dict[str, str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rg_id(sub, name),
        "name": name,
        "type": RG_TYPE,
        "location": location,
        "tags": tags or {},
        "properties": {"provisioningState": "Succeeded"},
    }
    if managed_by:
        body["managedBy"] = managed_by
    return body


def has_any_role_within(world: World, principal_id: str, sub_id: str) -> bool:
    """ARM lists a subscription for whoever holds any role at or below it."""
    prefix = f"/subscriptions/{sub_id}".lower()
    with world.lock:
        return any(
            ra.principal_id.lower() == principal_id.lower()
            and (key(ra.scope) == prefix or key(ra.scope).startswith(prefix + "/"))
            for ra in world.role_assignments.values()
        )


def list_subscriptions(call: Call) -> Response:
    with call.world.lock:
        subs = [
            s
            for s in call.world.subscriptions.values()
            if has_any_role_within(call.world, call.principal.object_id, s.id)
        ]
    return paged(call, [subscription_body(s) for s in subs])


def get_subscription(call: Call) -> Response:
    sub = next(s for s in call.world.subscriptions.values() if s.id.lower() == call.params["sub"].lower())
    if not has_any_role_within(call.world, call.principal.object_id, sub.id):
        raise ArmError(
            403,
            "AuthorizationFailed",
            f"The client '{call.principal.client_id}' with object id '{call.principal.object_id}' does not "
            f"have authorization to perform action 'Microsoft.Resources/subscriptions/read' over scope "
            f"'/subscriptions/{sub.id}' or the scope is invalid.",
        )
    return json_response(subscription_body(sub))


def list_resource_groups(call: Call) -> Response:
    sub = call.params["sub"]
    with call.world.lock:
        groups = [
            r
            for r in call.world.resources.values()
            if r.get("type") == RG_TYPE and r["id"].lower().startswith(f"/subscriptions/{sub.lower()}/")
        ]
    groups = [
        g for g in groups if authz.is_authorized(call.world, call.principal.object_id, RG_READ, g["id"])
    ]
    return paged(call, groups)


def get_resource_group(call: Call) -> Response:
    require(call, RG_READ, rg_id(call.params["sub"], call.params["rg"]))
    return json_response(public(require_rg(call)))


def head_resource_group(call: Call) -> Response:
    require(call, RG_READ, rg_id(call.params["sub"], call.params["rg"]))
    exists = call.world.get(rg_id(call.params["sub"], call.params["rg"])) is not None
    return Response(status=204 if exists else 404)


def put_resource_group(call: Call) -> Response:
    sub, name = call.params["sub"], call.params["rg"]
    require_write(call, RG_WRITE, rg_id(sub, name))
    body = call.body()
    if not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    with call.world.lock:
        existing = call.world.get(rg_id(sub, name))
        if existing is not None:
            existing["tags"] = body.get("tags", existing.get("tags", {}))
            return json_response(public(existing), 200)
        created = call.world.put(resource_group_body(sub, name, body["location"], tags=body.get("tags")))
    return json_response(public(created), 201)


def register(router: ArmRouter) -> None:
    router.add("GET", r"/subscriptions", list_subscriptions)
    router.add("GET", SUB, get_subscription)
    router.add("GET", SUB + r"/resourceGroups", list_resource_groups)
    router.add("GET", RG, get_resource_group)
    router.add("HEAD", RG, head_resource_group)
    router.add("PUT", RG, put_resource_group)
