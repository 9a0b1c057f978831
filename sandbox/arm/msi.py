"""Microsoft.ManagedIdentity: user-assigned identities and their federated identity credentials."""

from __future__ import annotations

import time
from typing import Any

from ..httpd import Response, json_response
from ..state import Principal, World, new_guid
from .base import (
    RG,
    ArmError,
    ArmRouter,
    Call,
    paged,
    public,
    read_handlers,
    require,
    require_resource,
    require_rg,
    require_write,
    resource_id_of,
)

UAI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
FIC_TYPE = f"{UAI_TYPE}/federatedIdentityCredentials"
UAI = RG + r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities"
FIC = UAI + r"/(?P<name>[^/]+)/federatedIdentityCredentials"


def tenant_of_subscription(world: World, resource_id: str) -> str:
    sub_id = resource_id.split("/")[2].lower()
    for sub in world.subscriptions.values():
        if sub.id.lower() == sub_id:
            return sub.tenant_id
    raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub_id}' could not be found.")


def create_identity(
    world: World,
    resource_id: str,
    location: str,
    *,
    created_at: float | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Store a user-assigned identity and its service principal (a new one starts its PrincipalNotFound window)."""
    tenant_id = tenant_of_subscription(world, resource_id)
    name = resource_id.rstrip("/").rsplit("/", 1)[-1]
    principal = Principal(
        object_id=new_guid(),
        tenant_id=tenant_id,
        kind="ManagedIdentity",
        client_id=new_guid(),
        display_name=name,
        resource_id=resource_id,
        created_at=time.time() if created_at is None else created_at,
    )
    world.add_principal(principal)
    return world.put(
        {
            "id": resource_id,
            "name": name,
            "type": UAI_TYPE,
            "location": location,
            "tags": tags or {},
            "properties": {
                "tenantId": tenant_id,
                "principalId": principal.object_id,
                "clientId": principal.client_id,
            },
        }
    )


def _uai_id(call: Call) -> str:
    return resource_id_of(call, UAI_TYPE)


get_identity, list_identities, _ = read_handlers(UAI_TYPE)


def put_identity(call: Call) -> Response:
    resource_id = _uai_id(call)
    require_rg(call)
    require_write(call, f"{UAI_TYPE}/write", resource_id)
    body = call.body()
    with call.world.lock:
        existing = call.world.get(resource_id)
        if existing is not None:
            existing["tags"] = body.get("tags", existing.get("tags", {}))
            return json_response(public(existing), 200)
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        created = create_identity(call.world, resource_id, body["location"], tags=body.get("tags"))
    return json_response(public(created), 201)


def _fic_id(call: Call) -> str:
    return f"{_uai_id(call)}/federatedIdentityCredentials/{call.params['fic']}"


def list_fics(call: Call) -> Response:
    parent = _uai_id(call)
    require(call, f"{FIC_TYPE}/read", parent)
    require_resource(call, parent, UAI_TYPE)
    return paged(call, call.world.children(parent, FIC_TYPE))


def get_fic(call: Call) -> Response:
    require(call, f"{FIC_TYPE}/read", _fic_id(call))
    return json_response(public(require_resource(call, _fic_id(call), FIC_TYPE)))


def put_fic(call: Call) -> Response:
    parent = _uai_id(call)
    fic_id = _fic_id(call)
    require_write(call, f"{FIC_TYPE}/write", fic_id)
    require_resource(call, parent, UAI_TYPE)
    props = call.body().get("properties") or {}
    for field_name in ("issuer", "subject"):
        if not isinstance(props.get(field_name), str) or not props[field_name]:
            raise ArmError(
                400, "BadRequest", f"The federated identity credential needs properties.{field_name}."
            )
    audiences = props.get("audiences") or ["api://AzureADTokenExchange"]
    with call.world.lock:
        existed = call.world.get(fic_id) is not None
        body = call.world.put(
            {
                "id": fic_id,
                "name": call.params["fic"],
                "type": FIC_TYPE,
                "properties": {
                    "issuer": props["issuer"],
                    "subject": props["subject"],
                    "audiences": audiences,
                },
            }
        )
    return json_response(public(body), 200 if existed else 201)


def delete_fic(call: Call) -> Response:
    fic_id = _fic_id(call)
    require_write(call, f"{FIC_TYPE}/delete", fic_id)
    require_rg(call)
    return Response(status=200 if call.world.delete(fic_id) is not None else 204)


def register(router: ArmRouter) -> None:
    router.add("GET", UAI, list_identities)
    router.add("GET", UAI + r"/(?P<name>[^/]+)", get_identity)
    router.add("PUT", UAI + r"/(?P<name>[^/]+)", put_identity)
    router.add("GET", FIC, list_fics)
    router.add("GET", FIC + r"/(?P<fic>[^/]+)", get_fic)
    router.add("PUT", FIC + r"/(?P<fic>[^/]+)", put_fic)
    router.add("DELETE", FIC + r"/(?P<fic>[^/]+)", delete_fic)
