"""Who may touch a storage account through the front: an Entra ID bearer token for storage (checked with the
sandbox signer) whose ``oid`` holds a propagated role granting the needed (data) action at the container's
scope or above. Answers as Azure Storage does: 401 with ``WWW-Authenticate``, 403 ``AuthorizationPermissionMismatch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from .. import authz
from ..httpd import Request, Response
from ..state import World
from .errors import storage_error

STORAGE_RESOURCE = "https://storage.azure.com"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers"
BLOB_WRITE = f"{_BLOBS}/blobs/write"
BLOB_DELETE = f"{_BLOBS}/blobs/delete"
CONTAINER_WRITE = f"{_BLOBS}/write"
CONTAINER_DELETE = f"{_BLOBS}/delete"
_AUTH_FAILED = "Server failed to authenticate the request. Please refer to the information in the www-authenticate header."


@dataclass(frozen=True)
class Account:
    name: str
    id: str
    tenant_id: str | None  # the tenant of the account's subscription, when the sandbox knows it

    def container_scope(self, filesystem: str) -> str:
        return f"{self.id}/blobServices/default/containers/{filesystem}"


def find_account(world: World, name: str) -> Account | None:
    """The ``Microsoft.Storage/storageAccounts`` resource called ``name`` (account names are global)."""
    with world.lock:
        for body in world.resources.values():
            if body.get("type", "").lower() == "microsoft.storage/storageaccounts" and (
                body.get("name", "").lower() == name.lower()
            ):
                subscription = world.subscriptions.get(body["id"].split("/")[2])
                return Account(body["name"], body["id"], subscription.tenant_id if subscription else None)
    return None


def audiences(account: str) -> list[str]:
    bases = [
        STORAGE_RESOURCE,
        f"https://{account}.blob.core.windows.net",
        f"https://{account}.dfs.core.windows.net",
    ]
    return [a for base in bases for a in (base, base + "/")]


def _unauthorized(world: World, request: Request, code: str, message: str, tenant_id: str | None) -> Response:
    authority = world.urls.get("aad", "https://login.microsoftonline.com")
    challenge = f"Bearer authorization_uri={authority}/{tenant_id or 'common'}/oauth2/authorize resource_id={STORAGE_RESOURCE}"
    return storage_error(request, 401, code, message, {"WWW-Authenticate": challenge})


def authenticate(
    world: World, request: Request, account_name: str, tenant_id: str | None
) -> dict[str, Any] | Response:
    """The token's claims, or the 401 answer."""
    header = request.header("authorization")
    if not header:
        return _unauthorized(world, request, "NoAuthenticationInformation", _AUTH_FAILED, tenant_id)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        message = "The sandbox storage front accepts only Entra ID bearer tokens (no shared key or SAS)."
        return _unauthorized(world, request, "InvalidAuthenticationInfo", message, tenant_id)
    try:
        claims = world.signer.verify(token.strip(), audience=audiences(account_name))
    except jwt.InvalidAudienceError:
        message = "Audience validation failed. Audience did not match."
        return _unauthorized(world, request, "InvalidAuthenticationInfo", message, tenant_id)
    except jwt.ExpiredSignatureError:
        message = "Lifetime validation failed. The token is expired."
        return _unauthorized(world, request, "InvalidAuthenticationInfo", message, tenant_id)
    except jwt.InvalidTokenError:
        return _unauthorized(world, request, "InvalidAuthenticationInfo", _AUTH_FAILED, tenant_id)
    if tenant_id and str(claims.get("tid", "")).lower() != tenant_id.lower():
        message = "Issuer validation failed. Issuer did not match."
        return _unauthorized(world, request, "InvalidAuthenticationInfo", message, tenant_id)
    return claims


def required_action(method: str, path: str) -> tuple[str, bool]:
    """(action, is_data_action) that a request with ``method`` on a filesystem (``path`` "") or a path needs."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return authz.BLOB_READ, True
    if not path:
        return (CONTAINER_DELETE if method == "DELETE" else CONTAINER_WRITE), False
    return (BLOB_DELETE if method == "DELETE" else BLOB_WRITE), True


def authorize(
    world: World, request: Request, claims: dict[str, Any], account: Account, filesystem: str, path: str
) -> Response | None:
    """``None`` when the caller holds a propagated role for the request, else the 403 answer."""
    action, data = required_action(request.method, path)
    principal = str(claims.get("oid", ""))
    if principal and authz.is_authorized(
        world, principal, action, account.container_scope(filesystem), data=data
    ):
        return None
    message = "This request is not authorized to perform this operation using this permission."
    return storage_error(request, 403, "AuthorizationPermissionMismatch", message)
