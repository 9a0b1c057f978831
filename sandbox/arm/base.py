"""What every resource provider module shares: the call context, ARM errors, routing, paging, authorization."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlencode

from .. import authz
from ..httpd import Request, Response, json_response
from ..state import Principal, World, key
from . import newtonsoft

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"
PAGE_SIZE = 50


class ArmError(Exception):
    """An error ARM answers with ``{"error": {"code", "message"[, "target"][, "details"]}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        target: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.details = details
        self.target = target

    @property
    def extra(self) -> dict[str, Any]:
        """The error object's keys beyond code and message (the property in question, ARM's nested ``details``)."""
        return ({"target": self.target} if self.target else {}) | (
            {"details": self.details} if self.details else {}
        )

    def as_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}

    def response(self) -> Response:
        return json_response({"error": self.as_error()}, self.status, **self.headers)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status, **(headers or {}))


@dataclass
class Call:
    """One authenticated ARM request."""

    world: World
    request: Request
    principal: Principal
    tenant_id: str
    base_url: str
    params: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON object in the request, read leniently as ARM's Json.NET reader does (see ``newtonsoft``)."""
        text = self.request.body.decode("utf-8-sig", errors="replace") if self.request.body else ""
        if not text.strip():
            return {}
        try:
            data = newtonsoft.loads(text)
        except newtonsoft.JsonNetError as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: '{exc}'.",
            ) from exc
        if not isinstance(data, dict):
            raise ArmError(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: 'Cannot deserialize the current "
                "JSON value into an object: the request content must be a JSON object.'.",
            )
        return data

    @property
    def path(self) -> str:
        return self.request.path.rstrip("/")


ArmHandler = Callable[[Call], Response]
# Runs a matched handler (the one place every ARM request passes: the HTTPS front and the sandbox's own
# requests); sandbox.arm.eventgrid_events turns writes into resource group events there.
AroundHandler = Callable[[Call, ArmHandler], Response]


class ArmRouter:
    """Case-insensitive regex routes over the unquoted path; first match wins."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], ArmHandler]] = []
        self.around: AroundHandler | None = None

    def add(self, method: str, pattern: str, handler: ArmHandler) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"/?$", re.IGNORECASE), handler))

    def match(self, method: str, path: str) -> tuple[ArmHandler, dict[str, str]] | None:
        path_matched = False
        for route_method, pattern, handler in self._routes:
            m = pattern.match(path)
            if m:
                path_matched = True
                if route_method == method:
                    return self._wrapped(handler), {k: v for k, v in m.groupdict().items() if v is not None}
        if path_matched:
            raise ArmError(
                405, "MethodNotAllowed", f"The requested method '{method}' is not allowed for '{path}'."
            )
        return None

    def _wrapped(self, handler: ArmHandler) -> ArmHandler:
        around = self.around
        return handler if around is None else lambda call: around(call, handler)


def now_iso(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).isoformat().replace("+00:00", "Z")


def public(body: dict[str, Any]) -> dict[str, Any]:
    """A resource body as ARM returns it (sandbox-only keys start with ``_``)."""
    return {k: v for k, v in body.items() if not k.startswith("_")}


def paged(call: Call, items: list[dict[str, Any]]) -> Response:
    """One page of ``items`` with a ``nextLink`` that repeats the query plus ``$skiptoken``."""
    try:
        start = int(call.request.q("$skiptoken") or 0)
    except ValueError as exc:
        raise ArmError(400, "InvalidSkipToken", "The $skiptoken is not valid.") from exc
    page = items[start : start + PAGE_SIZE]
    body: dict[str, Any] = {"value": [public(i) for i in page]}
    if start + PAGE_SIZE < len(items):
        query = {k: v for k, v in call.request.query.items() if k.lower() != "$skiptoken"}
        query["$skiptoken"] = str(start + PAGE_SIZE)
        body["nextLink"] = f"{call.base_url}{call.request.path}?{urlencode(query)}"
    return json_response(body)


def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def resource_id_of(call: Call, type_name: str, name: str | None = None) -> str:
    """The id of the ``type_name`` resource the call's path names (``name`` overrides ``params['name']``)."""
    p = call.params
    return f"{rg_id(p['sub'], p['rg'])}/providers/{type_name}/{p['name'] if name is None else name}"


def resource_group_of(resource_id: str) -> str | None:
    m = re.match(RG, resource_id, re.IGNORECASE)
    return rg_id(m["sub"], m["rg"]) if m else None


def require_rg(call: Call) -> dict[str, Any]:
    rg = call.world.get(rg_id(call.params["sub"], call.params["rg"]))
    if rg is None:
        raise ArmError(
            404, "ResourceGroupNotFound", f"Resource group '{call.params['rg']}' could not be found."
        )
    return rg


def require_resource(call: Call, resource_id: str, type_name: str) -> dict[str, Any]:
    require_rg(call)
    body = call.world.get(resource_id)
    if body is None:
        name = resource_id.rstrip("/").rsplit("/", 1)[-1]
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{type_name}/{name}' under resource group '{call.params['rg']}' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return body


def _denied(call: Call, action: str, scope: str) -> ArmError:
    return ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{call.principal.client_id}' with object id '{call.principal.object_id}' does not have "
        f"authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was "
        "recently granted, please refresh your credentials.",
    )


def is_platform(principal: Principal, scope: str) -> bool:
    """A platform principal acting inside its scope (see ``Principal.platform_scope``)."""
    own = principal.platform_scope
    return own is not None and authz.scope_covers(own, scope)


def may(world: World, principal: Principal, action: str, scope: str) -> bool:
    """RBAC as ``require`` checks it (propagated assignments only; platform principals inside their scope)."""
    return is_platform(principal, scope) or authz.is_authorized(world, principal.object_id, action, scope)


def require(call: Call, action: str, scope: str) -> None:
    """403 AuthorizationFailed unless the caller holds ``action`` at ``scope`` (propagated assignments only)."""
    if not may(call.world, call.principal, action, scope):
        raise _denied(call, action, scope)


def denied_by_assignment(world: World, principal_id: str, scope: str) -> str | None:
    """The managed application deny assignment covering ``scope`` that does not exclude ``principal_id``."""
    with world.lock:
        for rg_key, rg in world.resources.items():
            excluded = rg.get("_sandbox", {}).get("deny_except")
            if excluded is None or not authz.scope_covers(rg_key, scope):
                continue
            if principal_id.lower() not in {p.lower() for p in excluded}:
                return str(rg["id"])
    return None


def require_write(call: Call, action: str, scope: str) -> None:
    """Writes: node resource group lockdown, RBAC, then managed application deny assignments."""
    if authz.is_locked(call.world, scope):
        raise ArmError(
            403,
            "DenyAssignmentAuthorizationFailed",
            f"The client '{call.principal.client_id}' with object id '{call.principal.object_id}' may not perform "
            f"action '{action}' on scope '{scope}': access is denied because of the deny "
            "assignment of the node resource group lockdown (restrictionLevel: ReadOnly).",
        )
    require(call, action, scope)
    if is_platform(call.principal, scope):
        return
    denying = denied_by_assignment(call.world, call.principal.object_id, scope)
    if denying is not None:
        raise ArmError(
            403,
            "DenyAssignmentAuthorizationFailed",
            f"The client '{call.principal.client_id}' with object id '{call.principal.object_id}' is denied "
            f"action '{action}' on scope '{scope}' by the managed application's deny assignment on '{denying}'.",
        )


def visible(call: Call, action: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if authz.is_authorized(call.world, call.principal.object_id, action, i["id"])]


def resources_of_type(world: World, type_name: str, under: str | None = None) -> list[dict[str, Any]]:
    prefix = key(under) + "/" if under else ""
    with world.lock:
        return [
            r
            for k, r in world.resources.items()
            if r.get("type", "").lower() == type_name.lower() and k.startswith(prefix)
        ]


ResourceView = Callable[[World, dict[str, Any]], dict[str, Any]]


class ReadHandlers(NamedTuple):
    """GET one resource, list a resource group's, list a subscription's (what callers may read)."""

    get: ArmHandler
    list_in_group: ArmHandler
    list_in_subscription: ArmHandler


def _public_view(world: World, body: dict[str, Any]) -> dict[str, Any]:
    return public(body)


def read_handlers(
    type_name: str, read_action: str | None = None, view: ResourceView = _public_view
) -> ReadHandlers:
    """A resource type's read routes; ``view`` renders a stored body (default: its public keys)."""
    action = read_action or f"{type_name}/read"

    def get(call: Call) -> Response:
        resource_id = resource_id_of(call, type_name)
        require(call, action, resource_id)
        return json_response(view(call.world, require_resource(call, resource_id, type_name)))

    def list_in_group(call: Call) -> Response:
        rg = require_rg(call)
        require(call, action, rg["id"])
        return paged(call, [view(call.world, r) for r in call.world.children(rg["id"], type_name)])

    def list_in_subscription(call: Call) -> Response:
        found = resources_of_type(call.world, type_name, f"/subscriptions/{call.params['sub']}")
        return paged(call, [view(call.world, r) for r in visible(call, action, found)])

    return ReadHandlers(get, list_in_group, list_in_subscription)
