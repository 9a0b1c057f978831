"""What each delivery means for Prefect: the one place that maps Azure's notifications and Event Grid events to
Prefect events (name, resource labels, payload). A delivery that starts nothing maps to an outcome without event:
it is still recorded (and counted), so a replay of it is recognised too.

Event ids are uuid5 of the delivery id: a delivery Azure sends twice (or the receiver forwards twice) is one
Prefect event, which the Prefect server stores once and its triggers act on once."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.eventgrid import SystemEventNames
from prefect.events import Event

from onboarding.ids import ResourceId

from .parsing import ApplicationNotification, GridEvent

EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ama-aks-onboarding:receiver")
CUSTOMER_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")

# (eventType, provisioningState) -> Prefect event; the other documented pairs (PUT Accepted, DELETE Deleting)
# are recorded but start nothing.
NOTIFICATION_EVENTS = {
    ("PUT", "succeeded"): "ama.application.provisioned",
    ("PUT", "failed"): "ama.application.failed",
    ("PATCH", "succeeded"): "ama.application.updated",
    ("DELETE", "deleted"): "ama.application.deleted",
    ("DELETE", "failed"): "ama.application.failed",
}

Labels = Callable[[ResourceId, str], dict[str, str]]


def _agent_pool(arm: ResourceId, customer: str) -> dict[str, str]:
    cluster = arm.parent
    return {
        "prefect.resource.id": f"aks.agentpool.{customer}.{cluster.name if cluster else ''}.{arm.name}",
        "prefect.resource.name": arm.name,
        "azure.agentpool.id": str(arm),
        "azure.cluster.id": str(cluster or ""),
    }


def _scale_set(arm: ResourceId, customer: str) -> dict[str, str]:
    # The same resource id as the watch's aks.nodepool.* events, so one trigger can match both sources.
    return {
        "prefect.resource.id": f"aks.nodepool.{customer}.{arm.name}",
        "prefect.resource.name": arm.name,
        "azure.vmss.id": str(arm),
    }


def _cluster(arm: ResourceId, customer: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"aks.cluster.{customer}.{arm.name}",
        "prefect.resource.name": arm.name,
        "azure.cluster.id": str(arm),
    }


# ResourceWriteSuccess data.operationName (compared without case, as ARM does) -> Prefect event and its labels.
WRITE_EVENTS: dict[str, tuple[str, Labels]] = {
    "microsoft.containerservice/managedclusters/agentpools/write": ("aks.agentpool.written", _agent_pool),
    "microsoft.compute/virtualmachinescalesets/write": ("aks.nodepool.written", _scale_set),
    "microsoft.containerservice/managedclusters/write": ("aks.cluster.written", _cluster),
}


@dataclass(frozen=True)
class Outcome:
    """One delivery as the spool records it; ``event`` is None when it starts nothing."""

    delivery_id: str
    source: str
    kind: str
    event: Event | None


def event_id(delivery_id: str) -> uuid.UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, delivery_id)


def _event(
    delivery_id: str, name: str, occurred: datetime | None, resource: dict[str, str], **payload: Any
) -> Event:
    return Event(
        id=event_id(delivery_id),
        occurred=occurred or datetime.now(UTC),
        event=name,
        resource=resource,
        payload={key: value for key, value in payload.items() if value is not None},
    )


def map_notification(notification: ApplicationNotification, customer: str) -> Outcome:
    kind = f"{notification.event_type.upper()} {notification.provisioning_state}"
    name = NOTIFICATION_EVENTS.get((notification.event_type.upper(), notification.provisioning_state.lower()))
    if name is None:
        return Outcome(notification.delivery_id, "notification", kind, None)
    app_id = notification.application_id.rstrip("/")
    event = _event(
        notification.delivery_id,
        name,
        notification.event_time,
        {
            "prefect.resource.id": f"ama.application.{app_id.lower()}",
            "prefect.resource.name": ResourceId(app_id).name,
            "azure.application.id": app_id,
            "customer.id": customer,
        },
        eventType=notification.event_type,
        provisioningState=notification.provisioning_state,
        plan=notification.plan,
        applicationDefinitionId=notification.application_definition_id,
        error=notification.error,
    )
    return Outcome(notification.delivery_id, "notification", kind, event)


def customer_label(header: str | None) -> str:
    """The X-Ama-Customer delivery attribute when it is a customer name, else "" (it is not a secret, but it is
    still input: nothing else gets into a resource id)."""
    value = (header or "").strip()
    return value if CUSTOMER_NAME.match(value) else ""


def map_grid_event(grid: GridEvent, customer: str) -> Outcome:
    operation = str(grid.data.get("operationName") or "")
    rule = WRITE_EVENTS.get(operation.lower())
    arm = ResourceId(str(grid.data.get("resourceUri") or grid.subject))
    if grid.type != SystemEventNames.ResourceWriteSuccessEventName or rule is None or not arm.valid:
        return Outcome(grid.delivery_id, "eventgrid", f"{grid.type} {operation}".strip(), None)
    name, labels = rule
    event = _event(
        grid.delivery_id,
        name,
        grid.time,
        {**labels(arm, customer or "unknown"), "customer.id": customer},
        operationName=operation,
        status=grid.data.get("status"),
        correlationId=grid.data.get("correlationId"),
        subject=grid.subject,
        eventGridEventId=grid.id,
    )
    return Outcome(grid.delivery_id, "eventgrid", f"{grid.type} {operation}", event)
