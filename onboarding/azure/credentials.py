"""The three ways to get a token for a customer: the publisher principal, the managed application's identity
through ``listTokens``, and the worker's own managed identity."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

from ..errors import PermanentError
from ..redact import register_secret
from ..settings import Settings

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
REFRESH_MARGIN_S = 300

# Issues one listTokens call: (authorization audience, user-assigned identity ids) -> the service's token entries.
TokenLister = Callable[[str, list[str]], list[dict[str, Any]]]


def _transport_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {}
    authority = settings.authority_host.rstrip("/")
    options["authority"] = authority
    if authority != PUBLIC_AUTHORITY:
        options["disable_instance_discovery"] = True
    if settings.ca_bundle:
        options["connection_verify"] = str(settings.ca_bundle)
    return options


def _client_secret(settings: Settings) -> str | None:
    """From ``settings.client_secret_file`` when set (kept out of the environment), else AZURE_CLIENT_SECRET."""
    if settings.client_secret_file is None:
        return os.environ.get("AZURE_CLIENT_SECRET")
    try:
        return settings.client_secret_file.read_text().strip()
    except OSError as exc:
        raise PermanentError(
            f"cannot read the publisher's client secret file {settings.client_secret_file}: {exc.strerror}",
            hint="check ONBOARDING_CLIENT_SECRET_FILE and the file's permissions",
        ) from None


def publisher_credential(settings: Settings) -> TokenCredential:
    """The publisher principal: a client secret (AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret file or
    AZURE_CLIENT_SECRET) when given, else DefaultAzureCredential."""
    tenant, client = (os.environ.get(k) for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID"))
    secret = _client_secret(settings)
    options = _transport_options(settings)
    if tenant and client and secret:
        register_secret(secret)
        return ClientSecretCredential(tenant, client, secret, additionally_allowed_tenants=["*"], **options)
    options.pop("disable_instance_discovery", None)
    return DefaultAzureCredential(**options)


def worker_identity_credential(identity_resource_id: str, settings: Settings) -> TokenCredential:
    """The identity the worker runs as (the seed's bootstrap VM): IMDS, selected by resource id."""
    options = {"connection_verify": str(settings.ca_bundle)} if settings.ca_bundle else {}
    return ManagedIdentityCredential(identity_config={"resource_id": identity_resource_id}, **options)


def scope_to_audience(scope: str) -> str:
    """``https://management.azure.com/.default`` -> ``https://management.azure.com/`` (what listTokens wants)."""
    resource = scope.removesuffix(".default")
    return resource if resource.endswith("/") else resource + "/"


def _expires_on(entry: dict[str, Any]) -> int:
    for key in ("expiresOn", "expires_on"):
        if entry.get(key) not in (None, ""):
            return int(float(entry[key]))
    for key in ("expiresIn", "expires_in"):
        if entry.get(key) not in (None, ""):
            return int(time.time() + float(entry[key]))
    return int(time.time() + 600)


class ApplicationTokenCredential:
    """Tokens for the managed application's user-assigned identity, from POST ``listTokens`` as the publisher.

    Cached per audience until ``REFRESH_MARGIN_S`` before expiry; safe to share between threads.
    """

    def __init__(self, list_tokens: TokenLister, identity_resource_id: str) -> None:
        self._list_tokens = list_tokens
        self._identity = identity_resource_id
        self._cache: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    @property
    def identity_resource_id(self) -> str:
        return self._identity

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        audience = scope_to_audience(scopes[0])
        with self._lock:
            cached = self._cache.get(audience)
            if cached and cached.expires_on - REFRESH_MARGIN_S > time.time():
                return cached
            token = self._fetch(audience)
            self._cache[audience] = token
            return token

    def _fetch(self, audience: str) -> AccessToken:
        entry = select_token(self._list_tokens(audience, [self._identity]), self._identity, audience)
        value = str(entry.get("accessToken") or entry.get("access_token"))
        register_secret(value)
        return AccessToken(value, _expires_on(entry))


def select_token(entries: list[dict[str, Any]], identity_resource_id: str, audience: str) -> dict[str, Any]:
    """The listTokens entry for ``identity_resource_id`` that carries a token; refused when there is none (a token
    of another identity would prove nothing and act as the wrong principal)."""
    wanted = identity_resource_id.lower()
    chosen = next((e for e in entries if str(e.get("resourceId", "")).lower() == wanted), None)
    if chosen is None:
        returned = ", ".join(str(e.get("resourceId") or "(no resourceId)") for e in entries) or "no entries"
        raise PermanentError(
            f"listTokens for audience {audience} returned no token for identity {identity_resource_id} "
            f"(it returned: {returned})",
            hint="the identity must be one of the application's user-assigned identities: compare the managed "
            "application's identity property (userAssignedIdentities) with the identity onboarding uses",
        )
    if not (chosen.get("accessToken") or chosen.get("access_token")):
        raise PermanentError(
            f"listTokens for audience {audience} returned an entry for identity {identity_resource_id} "
            "without a token",
            hint="check that the identity belongs to the managed application and re-run",
        )
    return chosen
