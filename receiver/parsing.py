"""Request bodies into typed deliveries. Event Grid and CloudEvents bodies are parsed by ``azure-eventgrid`` and
``azure.core.messaging``; managed application notifications (which no Azure SDK models) by a pydantic model of the
documented schema. Anything they refuse is a ``MalformedDelivery`` (400)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import DeserializationError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, SystemEventNames
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CLOUDEVENTS_CONTENT_TYPES = ("application/cloudevents+json", "application/cloudevents-batch+json")


class MalformedDelivery(ValueError):
    """The body is not what the route takes; the message names what is wrong, never the body."""


class ApplicationNotification(BaseModel):
    """One managed application notification (Learn: "Azure managed applications with notifications")."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    event_type: str = Field(alias="eventType", min_length=1)
    application_id: str = Field(alias="applicationId", min_length=1)
    event_time: datetime = Field(alias="eventTime")
    provisioning_state: str = Field(alias="provisioningState", min_length=1)
    application_definition_id: str | None = Field(None, alias="applicationDefinitionId")
    plan: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def delivery_id(self) -> str:
        """Azure gives a notification no id: its retries repeat these fields, so they name the delivery."""
        return (
            f"notification:{self.application_id.lower()}:{self.event_type.upper()}:"
            f"{self.provisioning_state.lower()}:{self.event_time.isoformat()}"
        )


@dataclass(frozen=True)
class GridEvent:
    """One Event Grid event, whichever schema it came in."""

    id: str
    type: str
    subject: str
    time: datetime | None
    data: dict[str, Any]

    @property
    def delivery_id(self) -> str:
        return f"eventgrid:{self.id}"

    @property
    def validation_code(self) -> str | None:
        """The handshake's code when this is Event Grid's subscription validation event."""
        if self.type != SystemEventNames.EventGridSubscriptionValidationEventName:
            return None
        code = self.data.get("validationCode")
        return code if isinstance(code, str) and code else None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedDelivery(f"the body is not JSON ({type(exc).__name__})") from None


def parse_notification(body: bytes) -> ApplicationNotification:
    try:
        return ApplicationNotification.model_validate(_json(body))
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, err["loc"])) or "body" for err in exc.errors())
        raise MalformedDelivery(f"not a managed application notification (check {fields})") from None


def _from_eventgrid_schema(item: Any) -> GridEvent:
    event = EventGridEvent.from_dict(item)
    if not (event.id and event.event_type and event.subject is not None):
        raise MalformedDelivery("an Event Grid event lacks id, eventType or subject")
    return GridEvent(str(event.id), event.event_type, event.subject, event.event_time, _data(event.data))


def _from_cloudevents_schema(item: Any) -> GridEvent:
    event: CloudEvent[Any] = CloudEvent.from_dict(item)
    return GridEvent(event.id, event.type, event.subject or "", event.time, _data(event.data))


def _data(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MalformedDelivery("an event's data is not a JSON object")
    return data


def parse_eventgrid(body: bytes, content_type: str) -> list[GridEvent]:
    """The events of one delivery: an array in the Event Grid schema, or CloudEvents 1.0 (one event, or a batch)."""
    document = _json(body)
    items = document if isinstance(document, list) else [document]
    if not items or not all(isinstance(item, dict) for item in items):
        raise MalformedDelivery("the body is not an event or an array of events")
    cloud = content_type.split(";")[0].strip().lower() in CLOUDEVENTS_CONTENT_TYPES or all(
        "specversion" in item for item in items
    )
    parse = _from_cloudevents_schema if cloud else _from_eventgrid_schema
    try:
        return [parse(item) for item in items]
    except MalformedDelivery:
        raise
    except (DeserializationError, ValueError, TypeError, AttributeError) as exc:
        schema = "CloudEvents 1.0" if cloud else "Event Grid"
        raise MalformedDelivery(f"not a valid {schema} event ({type(exc).__name__})") from None
