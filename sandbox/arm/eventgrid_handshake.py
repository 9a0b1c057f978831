"""The webhook validation handshake Event Grid runs before an event subscription becomes active.

Event Grid schema (end-point-validation-event-grid-events-schema.md): a POST of one
``Microsoft.EventGrid.SubscriptionValidationEvent`` with ``aeg-event-type: SubscriptionValidation``; a 200 whose
body echoes ``validationResponse`` validates it; a 200 without it puts the subscription in
``AwaitingManualAction`` until a GET of ``validationUrl`` (10 minutes, time-scaled here), else ``Failed``; any
other answer (202 included) fails it.
CloudEvents 1.0 (end-point-validation-cloud-events-schema.md): an HTTP OPTIONS with ``WebHook-Request-Origin``;
only an answer carrying ``WebHook-Allowed-Origin`` equal to that origin or ``*`` grants delivery.
A failure fails the PUT's operation with ``URL validation`` / ``Webhook validation handshake failed for ...``
(the code and first sentence Azure answers; the Azure CLI prints them as ``(URL validation) Webhook validation
handshake failed for <endpoint>``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..state import World
from .base import ArmError, now_iso
from .eventgrid_http import ORIGIN, Answer, common_headers, exchange, without_query

MANUAL_WINDOW_S = 600.0
_SYNC_OK = 200


class PendingValidations:
    """Manual validations waiting for a GET of their ``validationUrl`` (served by the admin API)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}

    def open(self) -> tuple[str, threading.Event]:
        token = secrets.token_urlsafe(16)
        done = threading.Event()
        with self._lock:
            self._pending[token] = done
        return token, done

    def visit(self, token: str) -> bool:
        with self._lock:
            done = self._pending.pop(token, None)
        if done is None:
            return False
        done.set()
        return True

    def close(self, token: str) -> None:
        with self._lock:
            self._pending.pop(token, None)


def failed(endpoint: str, detail: str) -> ArmError:
    return ArmError(
        400,
        "URL validation",
        f"Webhook validation handshake failed for {without_query(endpoint)}. {detail} "
        "For troublesooting, visit https://aka.ms/esvalidation.",
    )


def _status_text(answer: Answer) -> str:
    return str(answer.status) if answer.status is not None else "Unknown"


def _echoed(answer: Answer, code: str) -> bool:
    try:
        body = json.loads(answer.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(body, dict) and str(body.get("validationResponse", "")) == code


def validate_event_grid(
    world: World,
    pending: PendingValidations,
    *,
    topic_id: str,
    name: str,
    destination: dict[str, Any],
    manual_window_s: float,
    on_awaiting: Callable[[], None],
) -> None:
    """Run the Event Grid schema handshake; raise ``ArmError`` when it fails."""
    endpoint = str(destination["endpointUrl"])
    code = str(uuid.uuid4()).upper()
    token, visited = pending.open()
    validation_url = f"{world.urls.get('admin', '')}/eventgrid/validate?id={code}&token={token}"
    event = {
        "id": str(uuid.uuid4()),
        "topic": topic_id,
        "subject": "",
        "data": {"validationCode": code, "validationUrl": validation_url},
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": now_iso(),
        "metadataVersion": "1",
        "dataVersion": "1",
    }
    headers = {
        **common_headers(world, name, destination),
        "aeg-event-type": "SubscriptionValidation",
        "aeg-delivery-count": "0",
        "aeg-data-version": "1",
        "aeg-metadata-version": "1",
        "Content-Type": "application/json",
    }
    try:
        answer = exchange(world, "POST", endpoint, headers, json.dumps([event]).encode())
        if answer.status != _SYNC_OK:
            raise failed(endpoint, f"Http POST request failed with response code {_status_text(answer)}.")
        if _echoed(answer, code):
            return
        on_awaiting()
        deadline = time.time() + manual_window_s
        if not visited.wait(max(0.0, deadline - time.time())):
            raise failed(
                endpoint,
                "Http POST request returned 2XX response with invalid content and the validation URL was not "
                "visited in time.",
            )
    finally:
        pending.close(token)


def validate_cloud_events(world: World, *, name: str, destination: dict[str, Any]) -> None:
    """Run the CloudEvents 1.0 abuse protection handshake; raise ``ArmError`` when it fails."""
    endpoint = str(destination["endpointUrl"])
    headers = {
        **common_headers(world, name, destination),
        "WebHook-Request-Origin": ORIGIN,
        "WebHook-Request-Rate": "120",
    }
    answer = exchange(world, "OPTIONS", endpoint, headers, None)
    allowed = answer.headers.get("webhook-allowed-origin", "")
    if answer.status is None or not 200 <= answer.status < 300:
        raise failed(endpoint, f"Http OPTIONS request failed with response code {_status_text(answer)}.")
    if allowed.strip() not in (ORIGIN, "*"):
        raise failed(
            endpoint, "Http OPTIONS request did not answer WebHook-Allowed-Origin with the requesting origin."
        )
