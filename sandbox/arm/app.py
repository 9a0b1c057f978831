"""The ARM request pipeline: authentication, subscription check, injected faults, throttling, routing, logging."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import jwt

from .. import faults as faults_mod
from ..httpd import Request, Response
from ..state import World
from .base import ArmError, ArmRouter, Call, error_response

MANAGEMENT_AUDIENCES = {"https://management.azure.com", "https://management.core.windows.net"}
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_READ_ACTIONS = re.compile(r"/(list[a-z]*|getDeliveryAttributes|getFullUrl)$", re.IGNORECASE)


def request_kind(request: Request) -> str:
    """``read`` for GET/HEAD and POST list* actions (as ARM counts them) and Event Grid's getDeliveryAttributes /
    getFullUrl (reads of what GET hides), ``write`` otherwise."""
    if request.method in ("GET", "HEAD") or (request.method == "POST" and _READ_ACTIONS.search(request.path)):
        return "read"
    return "write"


def tracking_headers(request: Request) -> dict[str, str]:
    """The ids ARM puts on every answer, errors included: the client's ``x-ms-correlation-request-id`` echoed (a
    new one when it sent none), a request id and a routing id (``<region>:<time>:<request id>``). Raw captures of
    ARM answers show them (e.g. a 404 ResourceNotFound with ``x-ms-failure-cause: gateway``); the Azure CLI's
    recordings drop them (``FILTER_HEADERS`` in azure-cli-testsdk ``scenario_tests/base.py``)."""
    request_id = str(uuid.uuid4())
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return {
        "x-ms-correlation-request-id": request.header("x-ms-correlation-request-id") or str(uuid.uuid4()),
        "x-ms-request-id": request_id,
        "x-ms-routing-request-id": f"WESTUS:{stamp}:{request_id}",
    }


class ArmApp:
    def __init__(self, world: World, router: ArmRouter) -> None:
        self.world = world
        self.router = router
        self.faults = faults_mod.for_world(world)

    def __call__(self, request: Request) -> Response:
        started = time.time()
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "kind": request_kind(request),
            "principal": None,
            "tenant": None,
            "time": started,
        }
        try:
            response = self._handle(request, entry)
        except ArmError as exc:
            response = exc.response()
        response.headers.update(tracking_headers(request))
        entry["status"] = response.status
        entry["duration_ms"] = round((time.time() - started) * 1000, 1)
        self.world.log_request(entry)
        return response

    def _base_url(self, request: Request) -> str:
        host = request.header("host")
        return f"https://{host}" if host else self.world.urls["arm"]

    def _authenticate(self, request: Request) -> tuple[str, str]:
        header = request.header("authorization") or ""
        if not header.lower().startswith("bearer "):
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                {
                    "WWW-Authenticate": f'Bearer authorization_uri="{self.world.urls.get("aad", "")}", '
                    'error="invalid_token", error_description="The authentication '
                    "failed because of missing 'Authorization' header.\""
                },
            )
        try:
            claims = self.world.signer.verify(header[7:].strip())
        except jwt.ExpiredSignatureError as exc:
            raise ArmError(
                401,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise ArmError(401, "InvalidAuthenticationToken", f"The access token is invalid: {exc}.") from exc
        audience = str(claims.get("aud", "")).rstrip("/")
        if audience not in MANAGEMENT_AUDIENCES and audience != self.world.urls.get("arm", "").rstrip("/"):
            raise ArmError(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. "
                "It should exactly match with one of the allowed audiences "
                "'https://management.core.windows.net/','https://management.azure.com/'.",
            )
        return str(claims.get("oid", "")), str(claims.get("tid", ""))

    def _handle(self, request: Request, entry: dict[str, Any]) -> Response:
        object_id, tenant_id = self._authenticate(request)
        principal = self.world.principals.get(object_id)
        if principal is None:
            raise ArmError(401, "InvalidAuthenticationToken", f"The principal '{object_id}' does not exist.")
        entry["principal"], entry["tenant"] = object_id, tenant_id
        rule = self.faults.match(request.method, request.path)
        if rule is not None:
            headers = {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else {}
            return error_response(rule.status, rule.code, rule.message, headers)
        m = _SUBSCRIPTION.match(request.path)
        subscription = m.group(1) if m else "tenant"
        wait = self.faults.throttle(subscription, object_id, entry["kind"])
        if wait:
            kind = entry["kind"]
            raise ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{kind}' requests for subscription '{subscription}' actor '{object_id}' "
                f"exceeded. Please try again after '{wait}' seconds after the additional tokens are "
                "available. Refer to https://aka.ms/arm-throttling",
                {"Retry-After": str(wait)},
            )
        if m and subscription.lower() not in {s.lower() for s in self.world.subscriptions}:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found."
            )
        matched = self.router.match(request.method, request.path.rstrip("/") or "/")
        if matched is None:
            raise ArmError(
                404,
                "InvalidResourceType" if m else "NotFound",
                f"The resource type or path '{request.path}' is not served by the sandbox.",
            )
        handler, params = matched
        call = Call(self.world, request, principal, tenant_id, self._base_url(request), params)
        return handler(call)
