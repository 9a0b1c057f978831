"""Microsoft.EventGrid: system topics on a resource group and their webhook event subscriptions, as
``azure-mgmt-eventgrid`` 10.4 drives them (api-version 2025-02-15).

System topics: PUT (200/201, no operation: the body is already ``Succeeded``), GET, DELETE (with its
subscriptions), list in a group and a subscription; ``topicType`` ``Microsoft.Resources.ResourceGroups`` only,
``source`` an existing resource group, location ``global``.
Event subscriptions: PUT answers 201 ``Creating`` with ``Azure-AsyncOperation`` (the SDK accepts only 201) and runs
the validation handshake (``eventgrid_handshake``) before it becomes ``Succeeded``; a failed handshake fails the
operation and leaves the subscription ``Failed``. GET shows ``endpointBaseUrl`` (the URL without its query), never
``endpointUrl`` (``getFullUrl`` returns it) and hides secret delivery attribute values (``getDeliveryAttributes``
returns them, as REST spec example SystemTopicEventSubscriptions_GetDeliveryAttributes.json shows).
"""

from __future__ import annotations

import copy
from typing import Any

from ..httpd import Response, json_response
from ..state import World, key
from .base import (
    RG,
    SUB,
    ArmError,
    ArmRouter,
    Call,
    paged,
    public,
    read_handlers,
    require,
    require_resource,
    require_rg,
    require_write,
    resource_id_of,
)
from .eventgrid_delivery import SUBSCRIPTION_TYPE, TOPIC_TYPE, broker_for, time_scale
from .eventgrid_filters import validate as validate_filter
from .eventgrid_handshake import MANUAL_WINDOW_S, validate_cloud_events, validate_event_grid
from .eventgrid_http import is_loopback, without_query
from .lro import Operations

RG_TOPIC_TYPE = "Microsoft.Resources.ResourceGroups"
SCHEMAS = ("EventGridSchema", "CloudEventSchemaV1_0")


def _invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidRequest", message)


# --- system topics ---
get_topic, list_topics_in_group, list_topics_in_subscription = read_handlers(TOPIC_TYPE)


def put_topic(call: Call) -> Response:
    topic_id = resource_id_of(call, TOPIC_TYPE)
    require_rg(call)
    require_write(call, f"{TOPIC_TYPE}/write", topic_id)
    body = call.body()
    props = body.get("properties") or {}
    source, topic_type = str(props.get("source") or ""), str(props.get("topicType") or "")
    if topic_type.lower() != RG_TOPIC_TYPE.lower():
        raise _invalid(f"Topic type '{topic_type}' is not served by the sandbox: use '{RG_TOPIC_TYPE}'.")
    if str(body.get("location") or "").lower() != "global":
        raise _invalid(f"The location of a system topic of type '{RG_TOPIC_TYPE}' must be 'global'.")
    if call.world.get(source) is None or source.rstrip("/").count("/") != 4:
        raise _invalid(f"The source '{source}' of the system topic is not an existing resource group.")
    with call.world.lock:
        existing = call.world.get(topic_id)
        topic = {
            "id": topic_id,
            "name": call.params["name"],
            "type": TOPIC_TYPE,
            "location": "global",
            "tags": body.get("tags") or {},
            "properties": {
                "provisioningState": "Succeeded",
                "source": source,
                "topicType": RG_TOPIC_TYPE,
                "metricResourceId": key(topic_id),
            },
        }
        call.world.put(topic)
    return json_response(public(topic), 200 if existing else 201)


def delete_topic(call: Call) -> Response:
    topic_id = resource_id_of(call, TOPIC_TYPE)
    require_write(call, f"{TOPIC_TYPE}/delete", topic_id)
    require_rg(call)
    with call.world.lock:
        for subscription in call.world.children(topic_id, SUBSCRIPTION_TYPE):
            call.world.delete(subscription["id"])
        found = call.world.delete(topic_id)
    return Response(status=200 if found else 204)


# --- event subscriptions ---
def _subscription_id(call: Call) -> str:
    return f"{resource_id_of(call, TOPIC_TYPE)}/eventSubscriptions/{call.params['es']}"


def subscription_view(world: World, stored: dict[str, Any]) -> dict[str, Any]:
    """The subscription as GET shows it: no ``endpointUrl``, no secret attribute values."""
    body = public(copy.deepcopy(stored))
    dest = body["properties"]["destination"]["properties"]
    dest["endpointBaseUrl"] = without_query(str(dest.pop("endpointUrl", "")))
    for mapping in dest.get("deliveryAttributeMappings") or []:
        props = mapping.get("properties") or {}
        if props.get("isSecret"):
            props["value"] = None
    return body


def _destination(body: dict[str, Any]) -> dict[str, Any]:
    destination = (body.get("properties") or {}).get("destination") or {}
    if str(destination.get("endpointType") or "") != "WebHook":
        raise _invalid("Only destinations of endpointType 'WebHook' are served by the sandbox.")
    props = dict(destination.get("properties") or {})
    url = str(props.get("endpointUrl") or "")
    if not (url.lower().startswith("https://") or (url.lower().startswith("http://") and is_loopback(url))):
        raise _invalid(f"The destination endpoint URL '{without_query(url)}' must be an https URL.")
    most = int(props.get("maxEventsPerBatch") or 1)
    size = int(props.get("preferredBatchSizeInKilobytes") or 64)
    if not 1 <= most <= 5000 or not 1 <= size <= 1024:
        raise _invalid("maxEventsPerBatch must be 1..5000 and preferredBatchSizeInKilobytes 1..1024.")
    mappings = props.get("deliveryAttributeMappings") or []
    if len(mappings) > 10:
        raise _invalid("At most 10 delivery attribute mappings are allowed.")
    props |= {"maxEventsPerBatch": most, "preferredBatchSizeInKilobytes": size}
    return {"endpointType": "WebHook", "properties": props}


def _subscription_body(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    schema = str(props.get("eventDeliverySchema") or "EventGridSchema")
    if schema not in SCHEMAS:
        raise _invalid(f"eventDeliverySchema '{schema}' is not served by the sandbox: use one of {SCHEMAS}.")
    event_filter = dict(props.get("filter") or {})
    try:
        validate_filter(event_filter)
    except ValueError as exc:
        raise _invalid(str(exc)) from exc
    event_filter.setdefault("subjectBeginsWith", "")
    event_filter.setdefault("subjectEndsWith", "")
    event_filter.setdefault("isSubjectCaseSensitive", False)
    retry = {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440} | (props.get("retryPolicy") or {})
    return {
        "id": _subscription_id(call),
        "name": call.params["es"],
        "type": SUBSCRIPTION_TYPE,
        "properties": {
            "topic": resource_id_of(call, TOPIC_TYPE),
            "provisioningState": "Creating",
            "destination": _destination(body),
            "filter": event_filter,
            "labels": props.get("labels") or [],
            "eventDeliverySchema": schema,
            "retryPolicy": retry,
        },
    }


def put_subscription(call: Call, ops: Operations) -> Response:
    topic_id = resource_id_of(call, TOPIC_TYPE)
    subscription_id = _subscription_id(call)
    topic = require_resource(call, topic_id, TOPIC_TYPE)
    require_write(call, f"{SUBSCRIPTION_TYPE}/write", subscription_id)
    stored = _subscription_body(call, call.body())
    world = call.world
    with world.lock:
        world.put(stored)
    props = stored["properties"]
    dest = props["destination"]["properties"]

    def awaiting() -> None:
        props["provisioningState"] = "AwaitingManualAction"

    def handshake() -> dict[str, Any]:
        try:
            if props["eventDeliverySchema"] == "CloudEventSchemaV1_0":
                validate_cloud_events(world, name=stored["name"], destination=dest)
            else:
                validate_event_grid(
                    world,
                    broker_for(world).pending,
                    topic_id=topic["properties"]["source"],
                    name=stored["name"],
                    destination=dest,
                    manual_window_s=MANUAL_WINDOW_S * time_scale(world),
                    on_awaiting=awaiting,
                )
        except ArmError:
            props["provisioningState"] = "Failed"
            raise
        props["provisioningState"] = "Succeeded"
        return subscription_view(world, stored)

    op = ops.start_thread("eventsubscription.put", handshake)
    return json_response(subscription_view(world, stored), 201, **ops.headers(call, op))


def _stored_subscription(call: Call) -> dict[str, Any]:
    require_resource(call, resource_id_of(call, TOPIC_TYPE), TOPIC_TYPE)
    stored = call.world.get(_subscription_id(call))
    if stored is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{SUBSCRIPTION_TYPE}/{call.params['es']}' under resource group "
            f"'{call.params['rg']}' was not found.",
        )
    return stored


def get_subscription(call: Call) -> Response:
    require(call, f"{SUBSCRIPTION_TYPE}/read", _subscription_id(call))
    return json_response(subscription_view(call.world, _stored_subscription(call)))


def list_subscriptions(call: Call) -> Response:
    topic_id = resource_id_of(call, TOPIC_TYPE)
    require(call, f"{SUBSCRIPTION_TYPE}/read", topic_id)
    require_resource(call, topic_id, TOPIC_TYPE)
    found = call.world.children(topic_id, SUBSCRIPTION_TYPE)
    return paged(call, [subscription_view(call.world, s) for s in found])


def delete_subscription(call: Call) -> Response:
    require_write(call, f"{SUBSCRIPTION_TYPE}/delete", _subscription_id(call))
    require_resource(call, resource_id_of(call, TOPIC_TYPE), TOPIC_TYPE)
    with call.world.lock:
        found = call.world.delete(_subscription_id(call))
    return Response(status=200 if found else 204)


def get_delivery_attributes(call: Call) -> Response:
    require(call, f"{SUBSCRIPTION_TYPE}/getDeliveryAttributes/action", _subscription_id(call))
    dest = _stored_subscription(call)["properties"]["destination"]["properties"]
    return json_response({"value": dest.get("deliveryAttributeMappings") or []})


def get_full_url(call: Call) -> Response:
    require(call, f"{SUBSCRIPTION_TYPE}/getFullUrl/action", _subscription_id(call))
    dest = _stored_subscription(call)["properties"]["destination"]["properties"]
    return json_response({"endpointUrl": dest.get("endpointUrl")})


def register(router: ArmRouter, ops: Operations) -> None:
    topics = r"/providers/Microsoft\.EventGrid/systemTopics"
    one = RG + topics + r"/(?P<name>[^/]+)"
    es = one + r"/eventSubscriptions/(?P<es>[^/]+)"
    router.add("GET", SUB + topics, list_topics_in_subscription)
    router.add("GET", RG + topics, list_topics_in_group)
    router.add("GET", one, get_topic)
    router.add("PUT", one, put_topic)
    router.add("DELETE", one, delete_topic)
    router.add("GET", one + r"/eventSubscriptions", list_subscriptions)
    router.add("GET", es, get_subscription)
    router.add("PUT", es, lambda call: put_subscription(call, ops))
    router.add("DELETE", es, delete_subscription)
    router.add("POST", es + r"/getDeliveryAttributes", get_delivery_attributes)
    router.add("POST", es + r"/getFullUrl", get_full_url)
