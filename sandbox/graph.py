"""A Microsoft Graph stand-in, only as far as ``az role assignment list [--assignee]`` needs it.

The Azure CLI's role module (``azure/cli/command_modules/role/custom.py``, ``_msgrpah/_graph_client.py``)
resolves a role assignment's ``principalId`` to a name with ``POST /v1.0/directoryObjects/getByIds`` and an
``--assignee`` with ``GET /v1.0/servicePrincipals?$filter=servicePrincipalNames/any(c:c eq '<id>')`` (and
``GET /v1.0/users?$filter=userPrincipalName eq '<upn>'`` for a name with ``@``). Graph answers from the
directory of the caller's tenant (the token's ``tid``): a principal of another tenant is not found.

Deliberate difference: Entra requires the application permission ``Directory.Read.All`` for an app or a
managed identity to read the directory; the sandbox lets every authenticated principal read its own tenant.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt

from .certs import CertPaths
from .httpd import HttpService, Request, Response, Router
from .state import Principal, World

GRAPH_AUDIENCES = {"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"}
_SPN_FILTER = re.compile(r"^servicePrincipalNames/any\(c:c eq '(?P<name>[^']*)'\)$", re.IGNORECASE)
_UPN_FILTER = re.compile(r"^userPrincipalName eq '(?P<name>[^']*)'$", re.IGNORECASE)
_ODATA = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, request: Request) -> Response:
        """Graph's error shape: ``{"error": {"code", "message", "innerError": {date, request-id, ...}}}``."""
        request_id = str(uuid.uuid4())
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": request.header("client-request-id") or request_id,
        }
        body = {"error": {"code": self.code, "message": self.message, "innerError": inner}}
        return Response(status=self.status, body=body, content_type=_ODATA)


def service_principal(principal: Principal) -> dict[str, Any]:
    """A principal as Graph's ``servicePrincipal`` resource (the properties the CLI reads).

    A managed identity's service principal has ``servicePrincipalType`` ``ManagedIdentity`` and its resource
    id in ``alternativeNames``; the sandbox leaves out the ``https://identity.azure.net/...`` name Entra adds
    to its ``servicePrincipalNames`` (an opaque value nothing here reads)."""
    managed = principal.kind == "ManagedIdentity"
    return {
        "@odata.type": "#microsoft.graph.servicePrincipal",
        "id": principal.object_id,
        "accountEnabled": True,
        "alternativeNames": ["isExplicit=True", principal.resource_id] if managed else [],
        "appDisplayName": None if managed else principal.display_name,
        "appId": principal.client_id,
        "appOwnerOrganizationId": None if managed else principal.tenant_id,
        "displayName": principal.display_name,
        "servicePrincipalNames": [principal.client_id],
        "servicePrincipalType": "ManagedIdentity" if managed else "Application",
        "signInAudience": None
        if managed
        else ("AzureADMultipleOrgs" if principal.multi_tenant else "AzureADMyOrg"),
    }


class Graph:
    def __init__(self, world: World) -> None:
        self.world = world

    def _context(self, request: Request, entity_set: str) -> str:
        host = request.header("host") or ""
        return f"https://{host}/v1.0/$metadata#{entity_set}"

    def _tenant(self, request: Request) -> str:
        """The caller's tenant: a valid bearer token for Graph (401 ``InvalidAuthenticationToken`` otherwise)."""
        header = request.header("authorization") or ""
        if not header.lower().startswith("bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            claims = self.world.signer.verify(header[7:].strip())
        except jwt.ExpiredSignatureError as exc:
            raise GraphError(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.") from exc
        audience = str(claims.get("aud", "")).rstrip("/")
        if audience not in GRAPH_AUDIENCES and audience != self.world.urls.get("graph", "").rstrip("/"):
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
            )
        return str(claims.get("tid", ""))

    def _directory(self, tenant_id: str) -> list[Principal]:
        with self.world.lock:
            return [p for p in self.world.principals.values() if p.tenant_id.lower() == tenant_id.lower()]

    def get_by_ids(self, request: Request) -> Response:
        """``POST /v1.0/directoryObjects/getByIds`` {ids, types?}: the objects found, in no particular order;
        ids not found are left out (no error)."""
        tenant_id = self._tenant(request)
        try:
            body = request.json()
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'ids' of resource 'DirectoryObject'.",
            )
        if len(ids) > 1000:
            raise GraphError(400, "Request_BadRequest", "The number of ids exceeds the limit of 1000.")
        types = {str(t).lower() for t in body.get("types") or ["directoryObject"]}
        wanted = {str(i).lower() for i in ids}
        found = []
        if types & {"serviceprincipal", "directoryobject"}:
            found = [
                service_principal(p) for p in self._directory(tenant_id) if p.object_id.lower() in wanted
            ]
        return Response(
            body={"@odata.context": self._context(request, "directoryObjects"), "value": found},
            content_type=_ODATA,
        )

    def list_service_principals(self, request: Request) -> Response:
        tenant_id = self._tenant(request)
        expression = request.q("$filter")
        principals = self._directory(tenant_id)
        if expression:
            m = _SPN_FILTER.match(expression.strip())
            if m is None:
                raise GraphError(
                    400,
                    "Request_UnsupportedQuery",
                    f"Unsupported query: '{expression}' (the sandbox's Graph filters servicePrincipalNames/any only).",
                )
            name = m.group("name").lower()
            principals = [
                p
                for p in principals
                if name in {s.lower() for s in service_principal(p)["servicePrincipalNames"]}
            ]
        value = [service_principal(p) for p in principals]
        return Response(
            body={"@odata.context": self._context(request, "servicePrincipals"), "value": value},
            content_type=_ODATA,
        )

    def list_users(self, request: Request) -> Response:
        """The sandbox's directories hold no users: every ``userPrincipalName eq`` filter finds none."""
        self._tenant(request)
        expression = request.q("$filter")
        if expression and _UPN_FILTER.match(expression.strip()) is None:
            raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported query: '{expression}'.")
        return Response(
            body={"@odata.context": self._context(request, "users"), "value": []}, content_type=_ODATA
        )


def build(world: World, certs: CertPaths | None = None) -> HttpService:
    graph = Graph(world)
    router = Router()
    router.add("POST", r"/v1\.0/directoryObjects/getByIds", graph.get_by_ids)
    router.add("GET", r"/v1\.0/servicePrincipals", graph.list_service_principals)
    router.add("GET", r"/v1\.0/users", graph.list_users)

    def app(request: Request) -> Response:
        handler = router.match(request)
        if handler is None:
            return GraphError(
                400,
                "BadRequest",
                f"Resource not found for the segment '{request.path.rstrip('/').rsplit('/', 1)[-1]}'.",
            ).response(request)
        try:
            return handler(request)
        except GraphError as exc:
            return exc.response(request)

    return HttpService("graph", app, certs=certs)
