"""Event delivery: route an event to the active subscriptions of the system topics on its resource group, batch,
POST, retry, log every attempt.

MicrosoftDocs/azure-docs articles/event-grid/delivery-and-retry.md: at least once per subscription, sent at once
(no waiting to fill a batch), at most ``maxEventsPerBatch`` events and about ``preferredBatchSizeInKilobytes``
per request (a larger single event still goes alone); 200-204 are success, anything else is retried on the
schedule 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, then hourly, not sooner than the status's minimum
(400/401/403/404 5 min, 408 2 min, 503 30 s, others 10 s), until ``maxDeliveryAttempts`` (default 30) or
``eventTimeToLiveInMinutes`` (default 1440). Delays scale with the sandbox profile.

Test hooks (the admin API): every attempt is logged; ``chaos`` makes duplicates (each batch sent twice) and
out-of-order delivery (events collected for a short window, then sent newest first) happen on purpose.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..profiles import REALISTIC
from ..state import World, key
from . import eventgrid_filters
from .eventgrid_handshake import PendingValidations
from .eventgrid_http import ORIGIN, common_headers, exchange, render, without_query

SUBSCRIPTION_TYPE = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
TOPIC_TYPE = "Microsoft.EventGrid/systemTopics"
RETRY_SCHEDULE_S = (10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0)
_MINIMUM_S = {400: 300.0, 401: 300.0, 403: 300.0, 404: 300.0, 408: 120.0, 503: 30.0}
_REORDER_WINDOW_S = 0.3


def time_scale(world: World) -> float:
    """The profile's factor on Azure's durations (1.0 = as in Azure)."""
    return world.timing.agentpool_create_s / REALISTIC.agentpool_create_s


def retry_delay_s(attempt: int, status: int | None) -> float:
    """Azure's delay before retry number ``attempt`` (1-based) after an answer of ``status``."""
    scheduled = RETRY_SCHEDULE_S[min(attempt, len(RETRY_SCHEDULE_S)) - 1]
    return max(scheduled, _MINIMUM_S.get(status or 0, 10.0))


@dataclass
class Batch:
    events: list[dict[str, Any]]
    first_published: float
    attempt: int = 1


@dataclass
class Chaos:
    duplicate: bool = False
    reorder: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {"duplicate": self.duplicate, "reorder": self.reorder}


@dataclass
class _Lane:
    """One subscription's queue and the thread that drains it."""

    subscription_id: str
    inbox: queue.Queue[Batch] = field(default_factory=queue.Queue)


class Broker:
    def __init__(self, world: World) -> None:
        self.world = world
        self.chaos = Chaos()
        self.pending = PendingValidations()
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._log: list[dict[str, Any]] = []

    # --- routing ---
    def publish(self, event: dict[str, Any], resource_group_id: str) -> None:
        """Queue ``event`` for every active subscription of a system topic whose source is the group."""
        now = time.time()
        for subscription in self._subscriptions_on(resource_group_id):
            if eventgrid_filters.matches(subscription["properties"].get("filter") or {}, event):
                self._lane(subscription["id"]).inbox.put(Batch([event], now))

    def _subscriptions_on(self, resource_group_id: str) -> list[dict[str, Any]]:
        with self.world.lock:
            topics = [
                t
                for t in self.world.resources.values()
                if t.get("type", "").lower() == TOPIC_TYPE.lower()
                and key(str(t["properties"].get("source", ""))) == key(resource_group_id)
            ]
            return [
                s
                for t in topics
                for s in self.world.children(t["id"], SUBSCRIPTION_TYPE)
                if s["properties"].get("provisioningState") == "Succeeded"
            ]

    def _lane(self, subscription_id: str) -> _Lane:
        with self._lock:
            lane = self._lanes.get(key(subscription_id))
            if lane is None:
                lane = self._lanes[key(subscription_id)] = _Lane(subscription_id)
                threading.Thread(
                    target=self._drain, args=(lane,), name="eventgrid-delivery", daemon=True
                ).start()
        return lane

    # --- delivery ---
    def _drain(self, lane: _Lane) -> None:
        while True:
            batches = [lane.inbox.get()]
            if self.chaos.reorder:
                time.sleep(_REORDER_WINDOW_S)
            while not lane.inbox.empty():
                batches.append(lane.inbox.get_nowait())
            subscription = self.world.get(lane.subscription_id)
            if subscription is None or subscription["properties"].get("provisioningState") != "Succeeded":
                continue
            for batch in self._batched(subscription, batches):
                self._attempt(subscription, batch)
                if self.chaos.duplicate:
                    self._attempt(subscription, batch, duplicate=True)

    def _batched(self, subscription: dict[str, Any], batches: list[Batch]) -> list[Batch]:
        """Fresh events grouped within the destination's batch limits; retries keep their own batch."""
        dest = subscription["properties"]["destination"]["properties"]
        most = int(dest.get("maxEventsPerBatch") or 1)
        size_limit = int(dest.get("preferredBatchSizeInKilobytes") or 64) * 1024
        out: list[Batch] = []
        for batch in batches:
            last = out[-1] if out else None
            fits = (
                last is not None
                and batch.attempt == 1
                and last.attempt == 1
                and len(last.events) + len(batch.events) <= most
                and len(json.dumps(last.events + batch.events)) <= size_limit
            )
            if fits and last is not None:
                last.events.extend(batch.events)
            else:
                out.append(Batch(list(batch.events), batch.first_published, batch.attempt))
        if self.chaos.reorder:
            out.reverse()
            for batch in out:
                batch.events.reverse()
        return out

    def _attempt(self, subscription: dict[str, Any], batch: Batch, *, duplicate: bool = False) -> None:
        props = subscription["properties"]
        dest = props["destination"]["properties"]
        schema = str(props.get("eventDeliverySchema") or "EventGridSchema")
        body, content_type = render(schema, batch.events)
        headers = {
            **common_headers(self.world, subscription["name"], dest),
            "aeg-event-type": "Notification",
            "aeg-delivery-count": str(batch.attempt - 1),
            "aeg-data-version": str(batch.events[0].get("dataVersion", "")),
            "aeg-metadata-version": "1",
            "Content-Type": content_type,
        }
        if schema == "CloudEventSchemaV1_0":
            headers["Origin"] = ORIGIN
        answer = exchange(self.world, "POST", str(dest["endpointUrl"]), headers, body)
        self._record(subscription, dest, batch, answer.status, answer.error, duplicate)
        if answer.status is not None and 200 <= answer.status <= 204:
            return
        if not duplicate:
            self._retry_later(subscription, batch, answer.status)

    def _retry_later(self, subscription: dict[str, Any], batch: Batch, status: int | None) -> None:
        policy = subscription["properties"].get("retryPolicy") or {}
        attempts = int(policy.get("maxDeliveryAttempts") or 30)
        ttl_s = float(policy.get("eventTimeToLiveInMinutes") or 1440) * 60.0
        scale = time_scale(self.world)
        delay = retry_delay_s(batch.attempt, status) * scale
        if batch.attempt >= attempts or time.time() + delay > batch.first_published + ttl_s * scale:
            return
        again = Batch(batch.events, batch.first_published, batch.attempt + 1)
        self.world.scheduler.after(delay, lambda: self._lane(subscription["id"]).inbox.put(again))

    # --- the admin API's view ---
    def _record(
        self,
        subscription: dict[str, Any],
        dest: dict[str, Any],
        batch: Batch,
        status: int | None,
        error: str | None,
        duplicate: bool,
    ) -> None:
        entry = {
            "time": time.time(),
            "subscription": subscription["id"],
            "endpoint": without_query(str(dest["endpointUrl"])),
            "event_ids": [e["id"] for e in batch.events],
            "event_types": [e["eventType"] for e in batch.events],
            "subjects": [e["subject"] for e in batch.events],
            "attempt": batch.attempt,
            "duplicate": duplicate,
            "status": status,
            "error": error,
        }
        with self._lock:
            self._log.append(entry)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        with self._lock:
            self._log.clear()


_REGISTRY: dict[World, Broker] = {}
_REGISTRY_LOCK = threading.Lock()


def broker_for(world: World) -> Broker:
    """The one Event Grid broker of a world (shared by ARM and the admin API)."""
    with _REGISTRY_LOCK:
        broker = _REGISTRY.get(world)
        if broker is None:
            broker = _REGISTRY[world] = Broker(world)
        return broker
