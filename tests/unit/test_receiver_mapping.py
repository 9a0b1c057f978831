"""The receiver's parsing (by the Azure SDK) and mapping to Prefect events, and its spool, without a server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from receiver.mapping import customer_label, event_id, map_grid_event, map_notification
from receiver.parsing import MalformedDelivery, parse_eventgrid, parse_notification
from receiver.spool import Spool
from tests.receiver_deliveries import (
    AGENT_POOL_WRITE,
    CLUSTER,
    CLUSTER_WRITE,
    NODE_RG,
    VMSS_WRITE,
    application_id,
    grid_body,
    notification,
    validation_event,
    write_event,
)

POOL = f"{CLUSTER}/agentPools/pool2"
VMSS = f"{NODE_RG}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool2-12345678-vmss"


def grid(*events: object, content_type: str = "application/json") -> list:
    return parse_eventgrid(json.dumps(grid_body(*events)).encode(), content_type)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event_type", "state", "expected"),
    [
        ("PUT", "Succeeded", "ama.application.provisioned"),
        ("PUT", "Failed", "ama.application.failed"),
        ("PATCH", "Succeeded", "ama.application.updated"),
        ("DELETE", "Deleted", "ama.application.deleted"),
        ("DELETE", "Failed", "ama.application.failed"),
        ("PUT", "Accepted", None),
        ("DELETE", "Deleting", None),
    ],
)
def test_notifications_map_to_application_events(event_type: str, state: str, expected: str | None) -> None:
    body = notification(event_type, state, error={"code": "DeploymentFailed", "message": "quota"})
    outcome = map_notification(parse_notification(json.dumps(body).encode()), "contoso")
    assert outcome.kind == f"{event_type} {state}"
    if expected is None:
        assert outcome.event is None
        return
    assert outcome.event is not None
    assert outcome.event.event == expected
    assert outcome.event.resource.id == f"ama.application.{application_id().lower()}"
    assert outcome.event.resource["azure.application.id"] == application_id()
    assert outcome.event.resource["customer.id"] == "contoso"
    assert outcome.event.payload["provisioningState"] == state
    assert outcome.event.payload["error"]["code"] == "DeploymentFailed"
    assert outcome.event.id == event_id(outcome.delivery_id)


def test_a_notification_retried_is_the_same_delivery() -> None:
    first = parse_notification(json.dumps(notification("PUT", "Succeeded")).encode())
    again = parse_notification(first.model_dump_json(by_alias=True).encode())
    assert again.delivery_id == first.delivery_id
    later = parse_notification(json.dumps(notification("PUT", "Succeeded")).encode())
    assert later.delivery_id != first.delivery_id  # a later notification of the same kind is a new one


@pytest.mark.parametrize(
    ("resource", "operation", "expected", "labels"),
    [
        (
            POOL,
            AGENT_POOL_WRITE,
            "aks.agentpool.written",
            {"azure.agentpool.id": POOL, "azure.cluster.id": CLUSTER},
        ),
        (VMSS, VMSS_WRITE, "aks.nodepool.written", {"azure.vmss.id": VMSS}),
        (CLUSTER, CLUSTER_WRITE, "aks.cluster.written", {"azure.cluster.id": CLUSTER}),
    ],
)
def test_resource_writes_map_by_operation(resource: str, operation: str, expected: str, labels: dict) -> None:
    (parsed,) = grid(write_event(resource, operation))
    outcome = map_grid_event(parsed, "contoso")
    assert outcome.event is not None
    assert outcome.event.event == expected
    assert {key: outcome.event.resource[key] for key in labels} == labels
    assert outcome.event.resource["customer.id"] == "contoso"
    assert outcome.event.resource.id.endswith("." + resource.rsplit("/", 1)[1])
    assert outcome.event.payload["operationName"] == operation
    assert outcome.event.id == event_id(f"eventgrid:{parsed.id}")


def test_scale_set_writes_share_the_watch_resource_id() -> None:
    (parsed,) = grid(write_event(VMSS, VMSS_WRITE))
    event = map_grid_event(parsed, "contoso").event
    assert event is not None
    assert event.resource.id == "aks.nodepool.contoso.aks-pool2-12345678-vmss"


def test_other_events_are_recorded_but_start_nothing() -> None:
    storage = f"{NODE_RG}/providers/Microsoft.Storage/storageAccounts/logs"
    events = grid(
        write_event(storage, "Microsoft.Storage/storageAccounts/write"),
        write_event(POOL, AGENT_POOL_WRITE, "Microsoft.Resources.ResourceWriteFailure"),
        write_event(
            POOL,
            "Microsoft.ContainerService/managedClusters/agentPools/delete",
            "Microsoft.Resources.ResourceDeleteSuccess",
        ),
    )
    outcomes = [map_grid_event(event, "contoso") for event in events]
    assert [outcome.event for outcome in outcomes] == [None, None, None]
    assert (
        outcomes[0].kind == "Microsoft.Resources.ResourceWriteSuccess Microsoft.Storage/storageAccounts/write"
    )


def test_validation_event_carries_its_code() -> None:
    (parsed,) = grid(validation_event("512d38b6-c7b8-40c8-89fe-f46f9e9622b6"))
    assert parsed.validation_code == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    (write,) = grid(write_event(POOL, AGENT_POOL_WRITE))
    assert write.validation_code is None


def test_cloud_events_parse_to_the_same_events() -> None:
    body = [
        {
            "specversion": "1.0",
            "id": "e1",
            "source": "/subscriptions/x/resourceGroups/mrg",
            "type": "Microsoft.Resources.ResourceWriteSuccess",
            "subject": POOL,
            "time": "2026-11-30T04:00:00Z",
            "data": {"operationName": AGENT_POOL_WRITE, "resourceUri": POOL, "status": "Succeeded"},
        }
    ]
    for content_type in ("application/cloudevents-batch+json; charset=utf-8", "application/json"):
        (parsed,) = parse_eventgrid(json.dumps(body).encode(), content_type)
        assert (parsed.id, parsed.subject, parsed.data["operationName"]) == ("e1", POOL, AGENT_POOL_WRITE)
    (single,) = parse_eventgrid(json.dumps(body[0]).encode(), "application/cloudevents+json")
    assert map_grid_event(single, "").event is not None


def parse_grid_json(body: bytes) -> object:
    return parse_eventgrid(body, "application/json")


MALFORMED_GRID = [
    b"not json",
    b"[]",
    b"[1, 2]",
    b'[{"id": "x", "eventType": "t"}]',
    b'[{"id": "x", "subject": "s", "eventType": "t", "eventTime": "yesterday", "data": {}}]',
    b'{"specversion": "1.0", "id": "x"}',
    b'[{"id": "x", "subject": "s", "eventType": "t", "data": [1]}]',
    b"\xff\xfe",
]
MALFORMED_NOTIFICATIONS = [
    b"{}",
    b"[]",
    b'{"eventType": "PUT", "applicationId": "x", "provisioningState": "Succeeded"}',
    b'{"eventType": "PUT", "applicationId": "x", "provisioningState": "", "eventTime": "2026-01-01T00:00Z"}',
]


@pytest.mark.parametrize(
    ("parse", "body"),
    [(parse_grid_json, body) for body in MALFORMED_GRID]
    + [(parse_notification, body) for body in MALFORMED_NOTIFICATIONS],
)
def test_malformed_bodies_are_refused(parse: Callable[[bytes], object], body: bytes) -> None:
    with pytest.raises(MalformedDelivery):
        parse(body)


def test_customer_label_takes_only_a_customer_name() -> None:
    assert customer_label(" contoso ") == "contoso"
    assert customer_label("Contoso.evil/../x") == ""
    assert customer_label(None) == ""


def test_spool_keeps_each_delivery_once_and_what_was_sent_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    (parsed,) = grid(write_event(POOL, AGENT_POOL_WRITE))
    starts = map_grid_event(parsed, "contoso")
    (other,) = grid(
        write_event(
            f"{NODE_RG}/providers/Microsoft.Network/virtualNetworks/v",
            "Microsoft.Network/virtualNetworks/write",
        )
    )
    ignored = map_grid_event(other, "contoso")
    spool = Spool(path)
    assert spool.record([starts, ignored]) == [starts, ignored]
    assert spool.record([starts]) == []
    (pending,) = spool.pending(10)
    assert json.loads(pending.event_json)["id"] == str(starts.event.id)  # type: ignore[union-attr]
    spool.mark_failed([pending.seq])
    spool.close()

    reopened = Spool(path)  # what was committed survives the process
    assert reopened.record([starts]) == []
    assert [p.seq for p in reopened.pending(10)] == [pending.seq]
    reopened.mark_sent([pending.seq])
    assert reopened.pending(10) == []
    assert reopened.counts() == {"sent": 1, "pending": 0, "recorded_only": 1}
    reopened.close()


def test_a_marketplace_notification_as_documented_keeps_its_plan() -> None:
    """Learn's Marketplace sample: seven fractional digits in eventTime, plan and billingDetails."""
    body = notification("PUT", "Succeeded", eventTime="2019-08-14T19:20:08.1707163Z")
    del body["applicationDefinitionId"]
    body |= {
        "billingDetails": {"resourceUsageId": "0000"},
        "plan": {"publisher": "p", "product": "q", "name": "n"},
    }
    outcome = map_notification(parse_notification(json.dumps(body).encode()), "")
    assert outcome.event is not None
    assert outcome.event.payload["plan"] == {"publisher": "p", "product": "q", "name": "n"}
    assert "applicationDefinitionId" not in outcome.event.payload
    assert outcome.event.occurred.isoformat().startswith("2019-08-14T19:20:08.170716")
