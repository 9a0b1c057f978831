"""How Event Grid talks to a webhook: one HTTP exchange, the headers it sets, the schema it renders.

Headers: ``aeg-event-type`` (``Notification`` / ``SubscriptionValidation``), ``aeg-subscription-name`` (upper
case), ``aeg-delivery-count``, ``aeg-data-version``, ``aeg-metadata-version`` (MicrosoftDocs/azure-docs
articles/event-grid/webhook-event-delivery.md, end-point-validation-event-grid-events-schema.md); static delivery
attributes as headers on deliveries and on the validation request (delivery-properties.md: well-known headers
are dropped "during event delivery to webhook destinations, but not during webhook validation"); an Entra bearer
token when the destination names a tenant and application (secure-webhook-delivery.md).
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..state import World

TIMEOUT_S = 30.0
ORIGIN = "eventgrid.azure.net"
# The Microsoft.EventGrid first-party application: the appid of the tokens Event Grid presents to an Entra
# protected webhook (secure-webhook-delivery.md).
EVENTGRID_APP_ID = "4962773b-9cdb-44cf-a8bf-237846a00ab7"


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (connection refused, timeout, TLS failure)
    headers: dict[str, str]
    body: bytes
    error: str | None = None


def without_query(url: str) -> str:
    """The endpoint as logs and errors show it: its query string may carry a secret."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls(world: World) -> ssl.SSLContext:
    """The system's trusted roots plus the sandbox CA (endpoints served with a sandbox certificate)."""
    ctx = ssl.create_default_context()
    bundle = world.urls.get("ca_bundle")
    if bundle:
        ctx.load_verify_locations(bundle)
    return ctx


def exchange(world: World, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    context = _tls(world) if url.lower().startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
            return Answer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())
    except (OSError, ValueError) as exc:
        return Answer(None, {}, b"", f"{type(exc).__name__}: {exc}")


def static_headers(destination: dict[str, Any]) -> dict[str, str]:
    """The static delivery attribute mappings of a webhook destination, as headers."""
    headers = {}
    for mapping in destination.get("deliveryAttributeMappings") or []:
        if str(mapping.get("type")) == "Static":
            props = mapping.get("properties") or {}
            headers[str(mapping["name"])] = str(props.get("value") or "")
    return headers


def entra_token(world: World, destination: dict[str, Any]) -> str | None:
    """A bearer token for an Entra protected webhook, issued to Event Grid's application in the destination's
    tenant, for the application the destination names (its audience)."""
    tenant = destination.get("azureActiveDirectoryTenantId")
    audience = destination.get("azureActiveDirectoryApplicationIdOrUri")
    if not tenant or not audience:
        return None
    token = world.signer.mint(
        audience=str(audience),
        tenant_id=str(tenant),
        object_id=EVENTGRID_APP_ID,
        app_id=EVENTGRID_APP_ID,
        extra={"idtyp": "app", "ver": "1.0"},
    )
    return token


def common_headers(world: World, subscription_name: str, destination: dict[str, Any]) -> dict[str, str]:
    headers = {"aeg-subscription-name": subscription_name.upper(), **static_headers(destination)}
    token = entra_token(world, destination)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """An Event Grid schema event as CloudEvents 1.0 (cloudevents-schema.md, "Event Grid schema -> CloudEvents")."""
    return {
        "id": event["id"],
        "source": event["topic"],
        "specversion": "1.0",
        "type": event["eventType"],
        "subject": event["subject"],
        "time": event["eventTime"],
        "data": event["data"],
    }


def render(schema: str, events: list[dict[str, Any]]) -> tuple[bytes, str]:
    """The body and content type of one delivery: an array in Event Grid schema; CloudEvents structured mode,
    one object, or a batch array for more than one event."""
    if schema == "CloudEventSchemaV1_0":
        if len(events) == 1:
            return json.dumps(cloud_event(events[0])).encode(), "application/cloudevents+json; charset=utf-8"
        return (
            json.dumps([cloud_event(e) for e in events]).encode(),
            "application/cloudevents-batch+json; charset=utf-8",
        )
    return json.dumps(events).encode(), "application/json"
