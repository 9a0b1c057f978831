"""An Entra ID (AAD) stand-in over HTTPS: OIDC discovery, JWKS, and the v2 token endpoint.

Client credentials with a secret (service principals; a multi-tenant app also in customer tenants) and with a
client assertion (workload identity: a cluster's service-account token exchanged for a managed identity's
token through a federated identity credential matching its issuer, subject and audience). Also serves each cluster's OIDC issuer documents.
"""

from __future__ import annotations

import hmac
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt

from .certs import CertPaths
from .httpd import HttpService, Request, Response, Router, json_response, router_app
from .state import Principal, World

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME_S = 3600
FIC_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
FEDERATION_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
_NON_RESOURCE_SCOPES = {"openid", "profile", "offline_access"}


def audience_for_scope(scope: str) -> str:
    """``https://management.azure.com/.default`` -> ``https://management.azure.com/`` (v1 resource form)."""
    resources = [s for s in scope.split() if s not in _NON_RESOURCE_SCOPES]
    if not resources:
        return ""
    first = resources[0]
    return first[: -len(".default")] if first.endswith("/.default") else first


def mint_access_token(
    world: World, principal: Principal, audience: str, tenant_id: str | None = None
) -> dict[str, Any]:
    """An access token response for ``principal`` (managed identity tokens carry ``xms_mirid``)."""
    extra: dict[str, Any] = {"idtyp": "app", "ver": "1.0"}
    if principal.resource_id:
        extra["xms_mirid"] = principal.resource_id
    token = world.signer.mint(
        audience=audience,
        tenant_id=tenant_id or principal.tenant_id,
        object_id=principal.object_id,
        app_id=principal.client_id,
        lifetime_s=TOKEN_LIFETIME_S,
        extra=extra,
    )
    expires_on = int(time.time()) + TOKEN_LIFETIME_S
    return {
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_S,
        "ext_expires_in": TOKEN_LIFETIME_S,
        "expires_on": expires_on,
        "access_token": token,
    }


def aad_error(status: int, error: str, code: int, description: str) -> Response:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace = str(uuid.uuid4())
    return json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {trace} Timestamp: {now}",
            "error_codes": [code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": trace,
        },
        status,
    )


class TokenService:
    def __init__(self, world: World) -> None:
        self.world = world

    def base(self) -> str:
        return self.world.urls["aad"]

    def _tenant(self, name: str) -> str | None:
        with self.world.lock:
            for tenant in self.world.tenants.values():
                if name.lower() in (tenant.id.lower(), tenant.name.lower()):
                    return tenant.id
        return None

    def openid_configuration(self, request: Request) -> Response:
        tenant = request.params["tenant"]
        tid = self._tenant(tenant) or (tenant if tenant.lower() in ("organizations", "common") else None)
        if tid is None:
            return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self.base()}/{tid}"
        return json_response(
            {
                "issuer": f"{base}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "NA",
            }
        )

    def keys(self, request: Request) -> Response:
        return json_response(self.world.signer.jwks())

    def token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        tid = self._tenant(request.params["tenant"])
        if tid is None:
            return aad_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{request.params['tenant']}' not found. "
                "Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
            )
        if form.get("grant_type") != "client_credentials":
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type; the sandbox supports client_credentials.",
            )
        audience = audience_for_scope(form.get("scope", ""))
        if not audience:
            return aad_error(400, "invalid_scope", 1002012, "The provided value for scope is not valid.")
        client_id = form.get("client_id", "")
        if form.get("client_assertion_type") == ASSERTION_TYPE:
            return self._assertion(tid, client_id, form.get("client_assertion", ""), audience)
        principal = self.world.principal_by_client_id(client_id)
        if principal is None or principal.secret is None:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tid}'.",
            )
        if not hmac.compare_digest(form.get("client_secret", ""), principal.secret):
            return aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        if principal.tenant_id.lower() != tid.lower() and not principal.multi_tenant:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tid}'. "
                "This can happen if the application has not been installed by the administrator of "
                "the tenant.",
            )
        return json_response(mint_access_token(self.world, principal, audience, tid))

    def _assertion(self, tid: str, client_id: str, assertion: str, audience: str) -> Response:
        """Workload identity federation. The assertion's signature and lifetime are checked here, its
        ``iss``/``sub``/``aud`` against the identity's federated credentials, reported as Entra does: no
        credential with that issuer 700211, none with that issuer and subject 700213, none of those listing
        the assertion's audience 700212 (older Entra answered all three with 70021)."""
        try:
            claims = self.world.signer.verify(assertion)
        except jwt.ExpiredSignatureError:
            return aad_error(
                400, "invalid_client", 700024, "Client assertion is not within its valid time range."
            )
        except jwt.InvalidTokenError as exc:
            return aad_error(400, "invalid_client", 50027, f"JWT token is invalid or malformed: {exc}.")
        principal = self.world.principal_by_client_id(client_id)
        if principal is None or principal.kind != "ManagedIdentity" or not principal.resource_id:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tid}'.",
            )
        issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
        aud = claims.get("aud", "")
        presented = [str(a) for a in aud] if isinstance(aud, list) else [str(aud)]
        fics = [f.get("properties", {}) for f in self.world.children(principal.resource_id, FIC_TYPE)]
        by_issuer = [p for p in fics if p.get("issuer") == issuer]
        by_subject = [p for p in by_issuer if p.get("subject") == subject]
        if any(a in (p.get("audiences") or []) for p in by_subject for a in presented):
            return json_response(mint_access_token(self.world, principal, audience, principal.tenant_id))
        if not by_issuer:
            code, what, value = 700211, "issuer", issuer
        elif not by_subject:
            code, what, value = 700213, "subject", subject
        else:
            code, what, value = 700212, "audience", ",".join(presented)
        return aad_error(
            400,
            "invalid_client",
            code,
            f"No matching federated identity record found for presented assertion {what} '{value}'. "
            "Please check your federated identity credential Subject, Audience and Issuer against the "
            f"presented assertion. {FEDERATION_DOCS}",
        )

    # --- per-cluster OIDC issuers (AKS oidcIssuerProfile) ---
    def _issuer_exists(self, issuer: str) -> bool:
        with self.world.lock:
            clusters = [
                r
                for r in self.world.resources.values()
                if r.get("type", "").lower() == "microsoft.containerservice/managedclusters"
            ]
        return any(
            c.get("properties", {}).get("oidcIssuerProfile", {}).get("issuerURL") == issuer for c in clusters
        )

    def cluster_openid_configuration(self, request: Request) -> Response:
        issuer = f"{self.base()}/oidc/{request.params['guid']}/"
        if not self._issuer_exists(issuer):
            return json_response({"error": "not_found"}, 404)
        return json_response(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    def cluster_keys(self, request: Request) -> Response:
        if not self._issuer_exists(f"{self.base()}/oidc/{request.params['guid']}/"):
            return json_response({"error": "not_found"}, 404)
        return json_response(self.world.signer.jwks())


def build(world: World, certs: CertPaths | None = None) -> HttpService:
    service = TokenService(world)
    router = Router()
    router.add(
        "GET",
        r"/oidc/(?P<guid>[^/]+)/\.well-known/openid-configuration",
        service.cluster_openid_configuration,
    )
    router.add("GET", r"/oidc/(?P<guid>[^/]+)/openid/v1/jwks", service.cluster_keys)
    router.add(
        "GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration", service.openid_configuration
    )
    router.add("GET", r"/(?P<tenant>[^/]+)/discovery/v2\.0/keys", service.keys)
    router.add("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", service.token)
    return HttpService("aad", router_app(router), certs=certs)
