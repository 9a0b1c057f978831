"""Managed application notifications: what the Managed Applications service POSTs to the publisher's webhook.

Evidence: MicrosoftDocs/azure-docs ``articles/azure-resource-manager/managed-applications/publish-notifications.md``
(see docs/fidelity/notifications.md). The endpoint is the application definition's
``properties.notificationPolicy.notificationEndpoints[].uri`` (service catalog) or the one set for a Marketplace
plan (Partner Center in Azure; the admin API here). Each event is POSTed as JSON to ``<uri path>/resource`` with
the uri's query string kept. An answer >= 500, 429 or no answer at all is retried with backoff until the
window (10 hours in Azure, scaled by the profile) is over; any other answer ends the delivery. Every attempt is
logged for the admin API, with the uri's query (the publisher's secret) left out.

Events of one application to one endpoint go out in order (a retried event holds back the next one); Azure
documents no ordering, so a receiver must not rely on it.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..perworld import PerWorld
from ..state import World, key

log = logging.getLogger(__name__)

_TIMEOUT_S = 30.0
_BACKOFF_DOUBLINGS = 5


def event_time(at: float | None = None) -> str:
    """UTC ISO 8601 with seven fractional digits, as the documented samples show (``...08.1707163Z``)."""
    stamp = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}0Z"


def resource_url(uri: str) -> str:
    """``https://host/path?sig=x`` -> ``https://host/path/resource?sig=x``."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/resource"))


def without_query(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query="", fragment=""))


def _plan_key(publisher: str, product: str, plan: str) -> tuple[str, str, str]:
    return publisher.lower(), product.lower(), plan.lower()


def body_for(
    app: dict[str, Any], event_type: str, provisioning_state: str, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The documented notification schema: ``applicationDefinitionId`` for service catalog applications,
    ``plan`` and ``billingDetails`` for Marketplace ones, ``error`` only when Failed."""
    body: dict[str, Any] = {
        "eventType": event_type,
        "applicationId": app["id"],
        "eventTime": event_time(),
        "provisioningState": provisioning_state,
    }
    props = app["properties"]
    if props.get("applicationDefinitionId"):
        body["applicationDefinitionId"] = props["applicationDefinitionId"]
    if app.get("plan"):
        body["billingDetails"] = dict(props.get("billingDetails") or {})
        body["plan"] = dict(app["plan"])
    if error is not None:
        body["error"] = error
    return body


class Notifier:
    """The notification endpoints of Marketplace plans, the delivery queues and the log of every attempt."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._lock = threading.Lock()
        self._plans: dict[tuple[str, str, str], dict[str, str]] = {}
        self._queues: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._attempts: list[dict[str, Any]] = []

    # --- Marketplace plans' endpoints (Partner Center's "Notification Endpoint URL") ---
    def set_plan_endpoint(self, publisher: str, product: str, plan: str, uri: str) -> None:
        entry = {"publisher": publisher, "product": product, "plan": plan, "uri": uri}
        with self._lock:
            self._plans[_plan_key(publisher, product, plan)] = entry

    def remove_plan_endpoint(self, publisher: str, product: str, plan: str) -> bool:
        with self._lock:
            return self._plans.pop(_plan_key(publisher, product, plan), None) is not None

    def plan_endpoints(self) -> list[dict[str, str]]:
        """The plans' endpoints without the uris' queries."""
        with self._lock:
            return [{**e, "uri": without_query(e["uri"])} for e in self._plans.values()]

    def endpoints(self, app: dict[str, Any]) -> list[str]:
        """The uris the application's definition or plan names."""
        definition_id = app["properties"].get("applicationDefinitionId")
        if definition_id:
            definition = self.world.get(definition_id) or {}
            policy = definition.get("properties", {}).get("notificationPolicy") or {}
            return [str(e["uri"]) for e in policy.get("notificationEndpoints") or [] if e.get("uri")]
        plan = app.get("plan") or {}
        with self._lock:
            entry = self._plans.get(
                _plan_key(plan.get("publisher", ""), plan.get("product", ""), plan.get("name", ""))
            )
        return [entry["uri"]] if entry else []

    # --- delivery ---
    def notify(
        self,
        app: dict[str, Any],
        event_type: str,
        provisioning_state: str,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Queue one event for each of the application's endpoints (none: nothing is sent)."""
        body = body_for(app, event_type, provisioning_state, error)
        for uri in self.endpoints(app):
            queue_key = (key(app["id"]), uri)
            with self._lock:
                queue = self._queues.get(queue_key)
                idle = queue is None
                if queue is None:
                    queue = self._queues[queue_key] = deque()
                queue.append(body)
            if idle:
                threading.Thread(
                    target=self._drain, args=(queue_key,), name="app-notifications", daemon=True
                ).start()

    def _drain(self, queue_key: tuple[str, str]) -> None:
        while True:
            with self._lock:
                queue = self._queues[queue_key]
                if not queue:
                    del self._queues[queue_key]
                    return
                body = queue[0]
            self._deliver(queue_key[1], body)
            with self._lock:
                queue.popleft()

    def _deliver(self, uri: str, body: dict[str, Any]) -> None:
        """POST until answered with anything but >= 500 or 429, or until the retry window is over."""
        url = resource_url(uri)
        first = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            status, failure = self._post(url, body)
            self._record(url, body, attempt, status, failure)
            retry = status is None or status >= 500 or status == 429
            timing = self.world.timing
            delay = timing.notification_retry_s * 2 ** min(attempt - 1, _BACKOFF_DOUBLINGS)
            if not retry or time.monotonic() - first + delay > timing.notification_window_s:
                return
            time.sleep(delay)

    def _post(self, url: str, body: dict[str, Any]) -> tuple[int | None, str | None]:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        context = None
        if url.lower().startswith("https:"):
            context = ssl.create_default_context(cafile=self.world.urls.get("ca_bundle"))
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S, context=context) as response:
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            return int(exc.code), None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return None, f"{type(exc).__name__}: {reason}"

    def _record(
        self, url: str, body: dict[str, Any], attempt: int, status: int | None, failure: str | None
    ) -> None:
        entry = {
            "time": event_time(),
            "uri": without_query(url),
            "applicationId": body["applicationId"],
            "eventType": body["eventType"],
            "provisioningState": body["provisioningState"],
            "attempt": attempt,
            "status": status,
            "failure": failure,
        }
        with self._lock:
            self._attempts.append(entry)
        log.info(
            "notification %s %s to %s: attempt %d answered %s",
            body["eventType"],
            body["provisioningState"],
            entry["uri"],
            attempt,
            status or failure,
        )

    def attempts(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._attempts)

    def clear_attempts(self) -> None:
        with self._lock:
            self._attempts.clear()


# The one Notifier of a world (shared by the ARM handlers and the admin API).
for_world = PerWorld(Notifier)
