"""Management clients pointed at the configured cloud (endpoint, token scope, CA bundle, polling interval)."""

from __future__ import annotations

from typing import Any, TypeVar

from azure.core.credentials import TokenCredential

from ..settings import Settings

C = TypeVar("C")


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword options every management client gets (``base_url`` always by keyword: see the SDK notes)."""
    options: dict[str, Any] = {
        "base_url": settings.arm_endpoint,
        "credential_scopes": [settings.arm_scope],
        "polling_interval": settings.poll_interval_s,
        "retry_total": settings.sdk_retry_total,
        "timeout": settings.sdk_call_timeout_s,
        "read_timeout": settings.sdk_call_timeout_s,
    }
    if settings.ca_bundle:
        options["connection_verify"] = str(settings.ca_bundle)
    return options


def make_client(cls: type[C], credential: TokenCredential, subscription_id: str, settings: Settings) -> C:
    return cls(credential, subscription_id, **client_options(settings))  # type: ignore[call-arg]
