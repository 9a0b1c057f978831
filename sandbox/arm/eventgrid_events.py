"""Resource group events: every ARM write, delete and action becomes a ``Microsoft.Resources.*`` event for the
system topics on the resource's group.

MicrosoftDocs/azure-docs articles/event-grid/event-schema-resource-groups.md: events are created for PUT, PATCH,
POST and DELETE operations sent to ARM (GET never); ``subject`` and ``data.resourceUri`` are the resource id,
``data.operationName`` the RBAC action (``<provider>/<types>/write|delete``, ``.../<action>/action``), with
``authorization``, ``claims``, ``correlationId``, ``httpRequest`` (only for updating an existing resource or a
delete), ``resourceProvider``, ``status``, ``subscriptionId``, ``tenantId``; ``dataVersion`` 2, ``topic`` the
resource group id. An operation that runs on (an ``Azure-AsyncOperation``/``Location`` answer) produces its event
when it ends, Success or Failure by its outcome.

Where it hooks: ``ArmRouter.around`` wraps every handler the router hands out, so both the HTTPS front
(``ArmApp``) and the sandbox's own requests (template deployments through ``Dispatcher``, managed applications)
pass here. Writes a resource provider makes behind ARM in Azure (AKS creating a pool's scale set, an upgrade
rewriting the scale sets) are announced by the sandbox's world events (``vmss.created``, ``cluster.upgraded``)
and become the same ResourceWriteSuccess events, made by the AKS resource provider's identity.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from typing import Any

from ..httpd import Response
from ..state import Principal, World, key
from .base import ArmError, ArmHandler, ArmRouter, Call, now_iso, resource_group_of, resources_of_type
from .compute import VMSS_TYPE
from .eventgrid_delivery import broker_for
from .lro import Operations

WRITE_METHODS = {"PUT", "PATCH", "DELETE", "POST"}
# The sandbox's stand-in for AKS's first-party application (the caller of the scale set writes AKS makes).
AKS_RP_APP_ID = "7319c514-987d-4e9b-ac3d-d38c4f427f4c"
_POLL_S = 0.02
_PROVIDERS = re.compile(r"/providers/", re.IGNORECASE)


def _operation(path: str, method: str) -> tuple[str, str] | None:
    """(resource id, operation name) of a request path; None for paths outside a resource group's resources."""
    if resource_group_of(path) is None:
        return None
    parts = _PROVIDERS.split(path.rstrip("/"))
    if len(parts) < 2:
        return None
    segments = parts[-1].split("/")
    namespace, rest = segments[0], segments[1:]
    action = None
    if method == "POST" and len(rest) % 2 == 1:
        action, rest = rest[-1], rest[:-1]
    if not rest or len(rest) % 2:
        return None
    types = "/".join(rest[0::2])
    resource_id = path.rstrip("/") if action is None else path.rstrip("/").rsplit("/", 1)[0]
    verb = {"PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(method, f"{action}/action")
    return resource_id, f"{namespace}/{types}/{verb}"


def _event_type(method: str, succeeded: bool) -> str:
    kind = {"DELETE": "Delete", "POST": "Action"}.get(method, "Write")
    return f"Microsoft.Resources.Resource{kind}{'Success' if succeeded else 'Failure'}"


def _claims(world: World, principal: Principal, tenant_id: str) -> dict[str, str]:
    """The caller's token claims as the event shows them (no token, nothing secret)."""
    return {
        "aud": "https://management.core.windows.net/",
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "appid": principal.client_id,
        "appidacr": "1",
        "idtyp": "app",
        "http://schemas.microsoft.com/identity/claims/objectidentifier": principal.object_id,
        "http://schemas.microsoft.com/identity/claims/tenantid": tenant_id,
        "ver": "1.0",
    }


def _tenant_of(world: World, subscription_id: str) -> str:
    sub = next((s for s in world.subscriptions.values() if s.id.lower() == subscription_id.lower()), None)
    return sub.tenant_id if sub else ""


def resource_event(
    world: World,
    *,
    resource_id: str,
    operation: str,
    event_type: str,
    claims: dict[str, str],
    principal_id: str,
    correlation_id: str,
    http_request: dict[str, str] | None,
) -> dict[str, Any]:
    subscription_id = resource_id.split("/")[2]
    data: dict[str, Any] = {
        "authorization": {
            "scope": resource_id,
            "action": operation,
            "evidence": {"principalId": principal_id, "principalType": "ServicePrincipal"},
        },
        "claims": claims,
        "correlationId": correlation_id,
        "resourceProvider": operation.split("/", 1)[0],
        "resourceUri": resource_id,
        "operationName": operation,
        "status": "Succeeded" if event_type.endswith("Success") else "Failed",
        "subscriptionId": subscription_id,
        "tenantId": _tenant_of(world, subscription_id),
    }
    if http_request is not None:
        data["httpRequest"] = http_request
    return {
        "id": str(uuid.uuid4()),
        "topic": resource_group_of(resource_id),
        "subject": resource_id,
        "eventType": event_type,
        "eventTime": now_iso(),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
    }


class ArmEvents:
    """The router's ``around`` hook and the listener of the resource providers' own writes."""

    def __init__(self, world: World, ops: Operations) -> None:
        self.world = world
        self.ops = ops
        world.subscribe(self._on_world_event)

    def publish(self, event: dict[str, Any]) -> None:
        broker_for(self.world).publish(event, str(event["topic"]))

    # --- requests through the router ---
    def around(self, call: Call, handler: ArmHandler) -> Response:
        method = call.request.method
        target = _operation(call.path, method) if method in WRITE_METHODS else None
        if target is None:
            return handler(call)
        resource_id, operation = target
        existed = method in ("PATCH", "DELETE") or self.world.get(resource_id) is not None
        try:
            response = handler(call)
        except ArmError:
            self._emit(call, resource_id, operation, existed, succeeded=False)
            raise
        monitor = response.headers.get("Azure-AsyncOperation") or response.headers.get("Location")
        if response.status < 400 and monitor:
            op_id = monitor.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            threading.Thread(
                target=self._after_operation,
                args=(op_id, call, resource_id, operation, existed),
                name="eventgrid-lro-watch",
                daemon=True,
            ).start()
        else:
            self._emit(call, resource_id, operation, existed, succeeded=response.status < 400)
        return response

    def _after_operation(
        self, op_id: str, call: Call, resource_id: str, operation: str, existed: bool
    ) -> None:
        try:
            op = self.ops.get(op_id)
        except ArmError:
            self._emit(call, resource_id, operation, existed, succeeded=True)
            return
        while op.status == "InProgress":
            time.sleep(_POLL_S)
        self._emit(call, resource_id, operation, existed, succeeded=op.status == "Succeeded")

    def _emit(self, call: Call, resource_id: str, operation: str, existed: bool, *, succeeded: bool) -> None:
        request = call.request
        http_request = None
        if existed:
            query = "&".join(f"{k}={v}" for k, v in request.query.items())
            http_request = {
                "clientRequestId": request.header("x-ms-client-request-id") or "",
                "clientIpAddress": "127.0.0.1",
                "method": request.method,
                "url": f"{call.base_url}{request.path}" + (f"?{query}" if query else ""),
            }
        self.publish(
            resource_event(
                self.world,
                resource_id=resource_id,
                operation=operation,
                event_type=_event_type(request.method, succeeded),
                claims=_claims(self.world, call.principal, call.tenant_id),
                principal_id=call.principal.object_id,
                correlation_id=request.header("x-ms-correlation-request-id") or str(uuid.uuid4()),
                http_request=http_request,
            )
        )

    # --- writes the resource providers make themselves ---
    def _on_world_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "vmss.created":
            self._provider_write(str(data["vmss_id"]))
        elif name == "cluster.upgraded":
            for vmss in resources_of_type(self.world, VMSS_TYPE):
                if key(vmss.get("_sandbox", {}).get("cluster_id", "")) == key(str(data["cluster_id"])):
                    self._provider_write(str(vmss["id"]))

    def _provider_write(self, resource_id: str) -> None:
        tenant_id = _tenant_of(self.world, resource_id.split("/")[2])
        aks = Principal(
            object_id=AKS_RP_APP_ID,
            tenant_id=tenant_id,
            kind="ServicePrincipal",
            client_id=AKS_RP_APP_ID,
            display_name="Azure Kubernetes Service RP",
        )
        self.publish(
            resource_event(
                self.world,
                resource_id=resource_id,
                operation=f"{VMSS_TYPE}/write",
                event_type="Microsoft.Resources.ResourceWriteSuccess",
                claims=_claims(self.world, aks, tenant_id),
                principal_id=aks.object_id,
                correlation_id=str(uuid.uuid4()),
                http_request=None,
            )
        )


def install(world: World, router: ArmRouter, ops: Operations) -> ArmEvents:
    """Hook resource group events into ``router`` (every request) and the world's events (provider writes)."""
    events = ArmEvents(world, ops)
    router.around = events.around
    return events
