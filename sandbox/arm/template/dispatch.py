"""Template resources go through the ARM API's own handlers: an internal request per resource, LROs awaited.

The deployment engine never writes a resource itself. It sends the PUT (or GET for ``reference()``, POST for
``list*()``) that a client would send, to the same router the HTTPS front uses, as the deploying principal,
and waits for the long-running operation the handler started. So whatever a template does not declare does not
exist, and a resource a handler refuses fails the deployment with the handler's own ARM error.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ...httpd import Request, Response
from ...state import Principal, World
from ..base import ArmError, ArmRouter, Call
from ..lro import Operations

_POLL_S = 0.02


@dataclass(frozen=True)
class Dispatcher:
    world: World
    router: ArmRouter
    ops: Operations

    def send(
        self,
        method: str,
        path: str,
        principal: Principal,
        tenant_id: str,
        *,
        body: Any = None,
        api_version: str = "2024-01-01",
    ) -> Response:
        """One request through the ARM handlers; ``ArmError`` as the handler raised it. It names the tenant of
        the subscription it addresses (``tenantId``), as a publisher's cross-tenant deployment works in the
        customer's tenant: reading back a role assignment it made there finds it."""
        query = {"api-version": api_version}
        tenant = self._tenant_of(path)
        if tenant:
            query["tenantId"] = tenant
        request = Request(
            method=method,
            path=path,
            query=query,
            headers={"content-type": "application/json"},
            body=b"" if body is None else json.dumps(body).encode(),
        )
        matched = self.router.match(method, path.rstrip("/"))
        if matched is None:
            raise ArmError(404, "InvalidResourceType", f"The resource type or path '{path}' is not known.")
        handler, params = matched
        call = Call(self.world, request, principal, tenant_id, self.world.urls.get("arm", ""), params)
        return handler(call)

    def _tenant_of(self, path: str) -> str | None:
        parts = path.split("/")
        if len(parts) < 3 or parts[1].lower() != "subscriptions":
            return None
        sub = next((s for s in self.world.subscriptions.values() if s.id.lower() == parts[2].lower()), None)
        return sub.tenant_id if sub else None

    def serves(self, method: str, path: str) -> bool:
        """Whether a handler exists for ``method`` on ``path`` (a template's resource type the sandbox serves)."""
        try:
            return self.router.match(method, path.rstrip("/")) is not None
        except ArmError:
            return False

    def put_and_wait(
        self, path: str, body: dict[str, Any], principal: Principal, tenant_id: str, *, api_version: str
    ) -> tuple[int, dict[str, Any]]:
        """PUT, wait for its LRO when it started one, and return (status of the PUT, the resource as now read)."""
        response = self.send("PUT", path, principal, tenant_id, body=body, api_version=api_version)
        self.wait(response)
        final = self.send("GET", path, principal, tenant_id, api_version=api_version)
        return response.status, final.body if isinstance(final.body, dict) else {}

    def wait(self, response: Response) -> None:
        """Block until the operation named by the response's LRO headers ends; its failure as ``ArmError``."""
        monitor = response.headers.get("Azure-AsyncOperation") or response.headers.get("Location")
        if not monitor:
            return
        op_id = monitor.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        op = self.ops.get(op_id)
        while op.status == "InProgress":
            time.sleep(_POLL_S)
        if op.status == "Failed":
            error = op.error or {"code": "InternalServerError", "message": "The operation failed."}
            raise ArmError(400, error["code"], error["message"], details=error.get("details"))
