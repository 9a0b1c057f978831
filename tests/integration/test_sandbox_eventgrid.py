"""Event Grid in the sandbox, driven by the real ``azure-mgmt-eventgrid`` client and a local webhook receiver:
system topics, event subscriptions and their validation handshake (both schemas), filters, resource group events
for writes made through ARM and by the AKS resource provider itself, retries, chaos, delivery attributes."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient

from sandbox.authz import OWNER, role_definition_id

from .armkit import credential, eventually, guid, list_tokens, make

pytestmark = pytest.mark.integration

WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
POOL_WRITE = "Microsoft.ContainerService/managedClusters/agentPools/write"
VMSS_WRITE = "Microsoft.Compute/virtualMachineScaleSets/write"
UAI_WRITE = "Microsoft.ManagedIdentity/userAssignedIdentities/write"
CUSTOMER_HEADER, KEY_HEADER = "X-Ama-Customer", "X-Ama-Delivery-Key"


class Receiver:
    """A webhook on 127.0.0.1: each path behaves as a test needs; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures_left: dict[str, int] = {"/flaky": 1}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_OPTIONS(self) -> None:
                receiver.record(self, b"")
                self.send_response(200)
                if self.path.startswith("/ce"):
                    self.send_header("WebHook-Allowed-Origin", self.headers.get("WebHook-Request-Origin", ""))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = receiver.answer(self.path, receiver.record(self, body))
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
        entry = {
            "method": handler.command,
            "path": handler.path,
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "body": json.loads(body) if body else None,
        }
        self.requests.append(entry)
        return entry

    def answer(self, path: str, entry: dict[str, Any]) -> tuple[int, bytes]:
        if path.startswith("/refuse"):
            return 403, b""
        if entry["headers"].get("aeg-event-type") == "SubscriptionValidation":
            if path.startswith("/manual"):
                return 200, b""
            code = entry["body"][0]["data"]["validationCode"]
            return 200, json.dumps({"validationResponse": code}).encode()
        if self.failures_left.get(path, 0) > 0:
            self.failures_left[path] -= 1
            return 500, b""
        return 200, b""

    def notifications(self, path: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if r["path"] == path
            and r["method"] == "POST"
            and r["headers"].get("aeg-event-type") == "Notification"
        ]

    def events(self, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for request in self.notifications(path):
            body = request["body"]
            found += body if isinstance(body, list) else [body]
        return found


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    box = Receiver()
    yield box
    box.server.shutdown()


@pytest.fixture(scope="module")
def env(sandbox: Any) -> dict[str, Any]:
    sub = guid()
    customer = sandbox.add_customer(
        name="egtest",
        subscription_id=sub,
        adopt={"aksName": "egaks", "identityNodeRoleDefinitionId": role_definition_id(sub, OWNER)},
    )
    as_app = list_tokens(sandbox, credential(sandbox), customer["application_id"], sub)
    grid = make(EventGridManagementClient, sandbox, as_app, sub)
    mrg = customer["managed_resource_group_id"].rsplit("/", 1)[-1]
    node_rg = customer["node_resource_group_id"].rsplit("/", 1)[-1]
    for rg, group_id in (
        (mrg, customer["managed_resource_group_id"]),
        (node_rg, customer["node_resource_group_id"]),
    ):
        grid.system_topics.begin_create_or_update(
            rg,
            f"{rg}-events",
            {"location": "global", "source": group_id, "topic_type": "Microsoft.Resources.ResourceGroups"},
        ).result()
    return {
        "customer": customer,
        "sub": sub,
        "as_app": as_app,
        "grid": grid,
        "mrg": mrg,
        "node_rg": node_rg,
        "aks": make(ContainerServiceClient, sandbox, as_app, sub),
        "msi": make(ManagedServiceIdentityClient, sandbox, as_app, sub),
    }


def _subscribe(
    env: dict[str, Any],
    rg: str,
    name: str,
    url: str,
    *,
    schema: str = "EventGridSchema",
    event_filter: dict[str, Any] | None = None,
    batch: int = 1,
) -> Any:
    return (
        env["grid"]
        .system_topic_event_subscriptions.begin_create_or_update(
            rg,
            f"{rg}-events",
            name,
            {
                "destination": {
                    "endpoint_type": "WebHook",
                    "endpoint_url": url,
                    "max_events_per_batch": batch,
                    "preferred_batch_size_in_kilobytes": 64,
                    "delivery_attribute_mappings": [
                        {"name": CUSTOMER_HEADER, "type": "Static", "value": "egtest", "is_secret": False},
                        {"name": KEY_HEADER, "type": "Static", "value": "s3cret-key", "is_secret": True},
                    ],
                },
                "filter": event_filter or {"included_event_types": [WRITE_SUCCESS]},
                "event_delivery_schema": schema,
                "retry_policy": {"max_delivery_attempts": 5, "event_time_to_live_in_minutes": 60},
            },
        )
        .result()
    )


def _admin(sandbox: Any, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(sandbox.env["SANDBOX_ADMIN_URL"] + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _identity(env: dict[str, Any], name: str) -> str:
    return str(
        env["msi"].user_assigned_identities.create_or_update(env["mrg"], name, {"location": "westus"}).id
    )


def test_subscription_is_validated_and_hides_its_secrets(env: dict[str, Any], receiver: Receiver) -> None:
    created = _subscribe(env, env["mrg"], "okwrites", f"{receiver.url}/ok?code=abc")
    assert created.provisioning_state == "Succeeded"
    assert created.destination.endpoint_base_url == f"{receiver.url}/ok"
    assert created.destination.endpoint_url is None
    shown = {m.name: m.value for m in created.destination.delivery_attribute_mappings}
    assert shown == {CUSTOMER_HEADER: "egtest", KEY_HEADER: None}
    grid = env["grid"]
    attributes = grid.system_topic_event_subscriptions.get_delivery_attributes(
        env["mrg"], f"{env['mrg']}-events", "okwrites"
    )
    assert {m.name: m.value for m in attributes.value} == {
        CUSTOMER_HEADER: "egtest",
        KEY_HEADER: "s3cret-key",
    }
    handshake = next(
        r for r in receiver.requests if r["headers"].get("aeg-event-type") == "SubscriptionValidation"
    )
    assert handshake["path"] == "/ok?code=abc"
    assert handshake["body"][0]["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"
    assert handshake["headers"]["aeg-subscription-name"] == "OKWRITES"
    assert handshake["headers"][KEY_HEADER.lower()] == "s3cret-key"
    assert [t.name for t in grid.system_topics.list_by_resource_group(env["mrg"])] == [f"{env['mrg']}-events"]


def test_failed_handshake_fails_the_put_with_azures_error(env: dict[str, Any], receiver: Receiver) -> None:
    with pytest.raises(HttpResponseError) as err:
        _subscribe(env, env["mrg"], "refused", f"{receiver.url}/refuse?code=secret")
    assert err.value.error.code == "URL validation"
    assert err.value.error.message.startswith(
        f"Webhook validation handshake failed for {receiver.url}/refuse."
    )
    assert "403" in err.value.error.message and "secret" not in err.value.error.message
    stored = env["grid"].system_topic_event_subscriptions.get(env["mrg"], f"{env['mrg']}-events", "refused")
    assert stored.provisioning_state == "Failed"


def test_manual_validation_through_the_validation_url(env: dict[str, Any], receiver: Receiver) -> None:
    def visit_when_asked() -> None:
        def asked() -> dict[str, Any]:
            return next(r for r in receiver.requests if r["path"] == "/manual")

        url = eventually(asked)["body"][0]["data"]["validationUrl"]
        urllib.request.urlopen(url, timeout=10).read()

    visitor = threading.Thread(target=visit_when_asked)
    visitor.start()
    created = _subscribe(env, env["mrg"], "manual", f"{receiver.url}/manual")
    visitor.join()
    assert created.provisioning_state == "Succeeded"


def test_agent_pool_put_delivers_the_pool_and_scale_set_writes(
    sandbox: Any, env: dict[str, Any], receiver: Receiver
) -> None:
    operations = {
        "operator_type": "StringIn",
        "key": "data.operationName",
        "values": [POOL_WRITE, VMSS_WRITE],
    }
    only_writes = {"included_event_types": [WRITE_SUCCESS], "advanced_filters": [operations]}
    _subscribe(env, env["mrg"], "poolwrites", f"{receiver.url}/pools", event_filter=only_writes)
    _subscribe(env, env["node_rg"], "vmsswrites", f"{receiver.url}/pools", event_filter=only_writes)
    ends = {"included_event_types": [WRITE_SUCCESS], "subject_ends_with": "/agentPools/nosuchpool"}
    _subscribe(env, env["mrg"], "nothing", f"{receiver.url}/nothing", event_filter=ends)
    env["aks"].agent_pools.begin_create_or_update(
        env["mrg"], "egaks", "pushpool", {"count": 1, "mode": "User"}, polling_interval=0.05
    ).result()

    def delivered() -> dict[str, dict[str, Any]]:
        events = {e["data"]["operationName"]: e for e in receiver.events("/pools")}
        assert set(events) == {POOL_WRITE, VMSS_WRITE}
        return events

    events = eventually(delivered)
    pool, vmss = events[POOL_WRITE], events[VMSS_WRITE]
    assert pool["eventType"] == vmss["eventType"] == WRITE_SUCCESS
    assert pool["subject"].endswith("/managedClusters/egaks/agentPools/pushpool")
    assert pool["subject"] == pool["data"]["resourceUri"] and pool["topic"].endswith(
        f"/resourceGroups/{env['mrg']}"
    )
    assert vmss["subject"].lower().startswith(env["customer"]["node_resource_group_id"].lower())
    assert "/virtualMachineScaleSets/aks-pushpool-" in vmss["subject"]
    assert pool["data"]["status"] == "Succeeded" and pool["data"]["tenantId"]
    for request in receiver.notifications("/pools"):
        assert request["headers"][CUSTOMER_HEADER.lower()] == "egtest"
        assert request["headers"][KEY_HEADER.lower()] == "s3cret-key"
        assert request["headers"]["content-type"] == "application/json"
    assert receiver.events("/nothing") == []


def test_cloud_events_schema_and_its_options_handshake(env: dict[str, Any], receiver: Receiver) -> None:
    _subscribe(env, env["mrg"], "cloudevents", f"{receiver.url}/ce", schema="CloudEventSchemaV1_0")
    options = next(r for r in receiver.requests if r["method"] == "OPTIONS" and r["path"] == "/ce")
    assert options["headers"]["webhook-request-origin"] == "eventgrid.azure.net"
    identity = _identity(env, "ce-identity")

    def delivered() -> dict[str, Any]:
        return next(r for r in receiver.notifications("/ce") if r["body"]["subject"] == identity)

    request = eventually(delivered)
    assert request["headers"]["content-type"].startswith("application/cloudevents+json")
    event = request["body"]
    assert event["specversion"] == "1.0" and event["type"] == WRITE_SUCCESS
    assert (
        event["source"].endswith(f"/resourceGroups/{env['mrg']}")
        and event["data"]["operationName"] == UAI_WRITE
    )


def test_cloud_events_handshake_refused_without_allowed_origin(
    env: dict[str, Any], receiver: Receiver
) -> None:
    with pytest.raises(HttpResponseError) as err:
        _subscribe(
            env, env["mrg"], "cerefused", f"{receiver.url}/ok-no-origin", schema="CloudEventSchemaV1_0"
        )
    assert err.value.error.code == "URL validation"


def test_a_500_answer_is_retried(sandbox: Any, env: dict[str, Any], receiver: Receiver) -> None:
    only_identities = {
        "included_event_types": [WRITE_SUCCESS],
        "advanced_filters": [{"operator_type": "StringBeginsWith", "key": "subject", "values": ["/"]}],
        "subject_ends_with": "/flaky-identity",
    }
    _subscribe(env, env["mrg"], "flaky", f"{receiver.url}/flaky", event_filter=only_identities)
    _identity(env, "flaky-identity")

    def two_attempts() -> list[dict[str, Any]]:
        attempts = [
            d
            for d in _admin(sandbox, "GET", "/eventgrid/deliveries")["deliveries"]
            if d["endpoint"].endswith("/flaky")
        ]
        assert [a["status"] for a in attempts] == [500, 200]
        return attempts

    first, second = eventually(two_attempts)
    assert first["event_ids"] == second["event_ids"] and second["attempt"] == 2
    counts = [r["headers"]["aeg-delivery-count"] for r in receiver.notifications("/flaky")]
    assert counts == ["0", "1"]


def test_chaos_duplicates_and_reorders(sandbox: Any, env: dict[str, Any], receiver: Receiver) -> None:
    uai_only = {
        "included_event_types": [WRITE_SUCCESS],
        "advanced_filters": [
            {"operator_type": "StringIn", "key": "data.operationName", "values": [UAI_WRITE]}
        ],
        "subject_ends_with": "-chaos",
    }
    _subscribe(env, env["mrg"], "chaos", f"{receiver.url}/chaos", event_filter=uai_only)
    _admin(sandbox, "POST", "/eventgrid/chaos", {"duplicate": True, "reorder": True})
    try:
        first, second = _identity(env, "one-chaos"), _identity(env, "two-chaos")

        def four() -> list[str]:
            subjects = [e["subject"] for e in receiver.events("/chaos")]
            assert len(subjects) == 4
            return subjects

        subjects = eventually(four)
    finally:
        _admin(sandbox, "DELETE", "/eventgrid/chaos")
    assert subjects == [second, second, first, first]
    ids = [e["id"] for e in receiver.events("/chaos")]
    assert ids[0] == ids[1] and ids[2] == ids[3]


def test_an_upgrade_rewrites_every_scale_set(sandbox: Any, env: dict[str, Any], receiver: Receiver) -> None:
    before = len([e for e in receiver.events("/pools") if e["data"]["operationName"] == VMSS_WRITE])
    cluster = env["customer"]["cluster_id"]
    _admin(sandbox, "POST", f"/clusters{cluster}/upgrade", {})
    scale_sets = {
        v.id.lower()
        for v in make(
            ComputeManagementClient, sandbox, env["as_app"], env["sub"]
        ).virtual_machine_scale_sets.list(env["node_rg"])
    }

    def rewritten() -> set[str]:
        writes = [e for e in receiver.events("/pools") if e["data"]["operationName"] == VMSS_WRITE][before:]
        assert len(writes) == len(scale_sets)
        return {e["subject"].lower() for e in writes}

    assert eventually(rewritten) == scale_sets


def test_a_refused_write_is_a_write_failure(env: dict[str, Any], receiver: Receiver) -> None:
    _subscribe(
        env,
        env["mrg"],
        "failures",
        f"{receiver.url}/failures",
        event_filter={"included_event_types": ["Microsoft.Resources.ResourceWriteFailure"]},
    )
    with pytest.raises(HttpResponseError):
        env["aks"].agent_pools.begin_create_or_update(env["mrg"], "egaks", "Bad_Name", {"count": 1}).result()

    def failed() -> dict[str, Any]:
        return next(e for e in receiver.events("/failures") if e["subject"].endswith("/agentPools/Bad_Name"))

    event = eventually(failed)
    assert event["data"]["operationName"] == POOL_WRITE and event["data"]["status"] == "Failed"


def test_a_cluster_update_is_a_write_success_then_an_injected_failure_a_write_failure(
    sandbox: Any, env: dict[str, Any], receiver: Receiver
) -> None:
    """A managed cluster PUT on the existing cluster (an LRO): its event comes when the operation ends, Success or
    Failure by its outcome, with ``httpRequest`` (an update of an existing resource)."""
    cluster_write = "Microsoft.ContainerService/managedClusters/write"
    only_cluster = {
        "included_event_types": [WRITE_SUCCESS, "Microsoft.Resources.ResourceWriteFailure"],
        "advanced_filters": [
            {"operator_type": "StringIn", "key": "data.operationName", "values": [cluster_write]}
        ],
    }
    _subscribe(env, env["mrg"], "clusterwrites", f"{receiver.url}/cluster", event_filter=only_cluster)
    aks = env["aks"]
    cluster = aks.managed_clusters.get(env["mrg"], "egaks")
    cluster.tags = {"updated": "yes"}
    aks.managed_clusters.begin_create_or_update(env["mrg"], "egaks", cluster, polling_interval=0.05).result()
    sandbox.set_faults([{"operation": "managedcluster.update", "path": "/managedClusters/egaks$"}])
    try:
        failing = aks.managed_clusters.begin_create_or_update(
            env["mrg"], "egaks", cluster, polling_interval=0.05
        )
        with pytest.raises(HttpResponseError):
            failing.result()
    finally:
        sandbox.clear_faults()

    def two() -> list[dict[str, Any]]:
        events = receiver.events("/cluster")
        assert len(events) == 2
        return events

    success, failure = eventually(two)
    assert success["eventType"] == WRITE_SUCCESS and success["data"]["status"] == "Succeeded"
    assert failure["eventType"] == "Microsoft.Resources.ResourceWriteFailure"
    assert failure["data"]["status"] == "Failed"
    for event in (success, failure):
        assert event["subject"].endswith("/managedClusters/egaks")
        assert event["data"]["operationName"] == cluster_write
        assert event["data"]["httpRequest"]["method"] == "PUT"
