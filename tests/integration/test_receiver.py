"""The receiver as it runs in production: ``python -m receiver`` on a free port, a real Prefect server behind it,
deliveries POSTed as Azure sends them (Event Grid events through the Azure SDK's publisher, which serialises
``EventGridEvent`` and ``CloudEvent`` as Event Grid delivers them; notifications as the documented JSON), and the
Prefect events read back from the Prefect API."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.eventgrid import EventGridPublisherClient
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventIDFilter, EventResourceFilter

from onboarding.azure.managed_app import application_id
from onboarding.catalog import load_catalog
from onboarding.settings import REPOSITORY_CATALOG
from receiver.mapping import event_id
from sandbox.httpd import free_port
from tests.receiver_deliveries import (
    AGENT_POOL_WRITE,
    CLUSTER,
    CLUSTER_WRITE,
    NODE_RG,
    VMSS_WRITE,
    grid_body,
    notification,
    validation_event,
    write_cloud_event,
    write_event,
)
from tests.receiver_deliveries import application_id as app_id
from tools.cloud_actions import wait_for
from tools.receiver_process import receiver_process
from tools.stack import PrefectStack, _signal_group

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("receiver")]

SIG = "sig-" + uuid.uuid4().hex
KEY = "key-" + uuid.uuid4().hex
MAX_BODY = 64_000


@dataclass
class Receiver:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    stack: PrefectStack

    def counts(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()

    def notify(self, body: Any, sig: str | None = SIG, **kwargs: Any) -> httpx.Response:
        params = {"sig": sig} if sig is not None else {}
        return httpx.post(
            f"{self.url}/notifications/resource", params=params, json=body, timeout=10, **kwargs
        )

    def publish(self, events: list[Any], key: str | None = KEY, customer: str = "contoso") -> None:
        """Deliver through the Azure SDK's publisher; the static delivery attributes as Event Grid sends them."""
        headers = {"X-Ama-Customer": customer, **({"X-Ama-Delivery-Key": key} if key is not None else {})}
        with EventGridPublisherClient(f"{self.url}/eventgrid", AzureKeyCredential("unused")) as client:
            client.send(events, headers=headers, retry_total=0)

    def post_grid(self, body: Any, key: str | None = KEY, **kwargs: Any) -> httpx.Response:
        headers = {"X-Ama-Delivery-Key": key} if key is not None else {}
        payload = {"content": body} if isinstance(body, bytes) else {"json": body}
        return httpx.post(f"{self.url}/eventgrid", headers=headers, timeout=10, **payload, **kwargs)


def read_events(stack: PrefectStack, event_filter: EventFilter) -> list[Any]:
    async def read() -> list[Any]:
        async with get_client() as client:
            return list((await client.read_events(filter=event_filter, limit=50)).events)

    with stack.settings():
        return asyncio.run(read())


def prefect_event(receiver: Receiver, delivery_id: str) -> Any:
    """The Prefect event of one delivery, once the Prefect API has stored it."""
    wanted = EventFilter(id=EventIDFilter(id=[event_id(delivery_id)]))
    (event,) = wait_for(lambda: read_events(receiver.stack, wanted), what=f"the event of {delivery_id}")
    return event


def events_of(receiver: Receiver, resource_id: str) -> list[Any]:
    return read_events(receiver.stack, EventFilter(resource=EventResourceFilter(id=[resource_id])))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectStack]:
    prefect = PrefectStack(tmp_path_factory.mktemp("prefect")).start()
    yield prefect
    prefect.stop()


@pytest.fixture(scope="module")
def receiver(stack: PrefectStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    work = tmp_path_factory.mktemp("receiver")
    catalog = work / "catalog"
    catalog.mkdir()
    shutil.copy(REPOSITORY_CATALOG / "contoso.yaml", catalog)
    port = free_port()
    env = {
        **stack.env(),
        "ONBOARDING_CATALOG_DIR": str(catalog),
        "ONBOARDING_RECEIVER_NOTIFICATION_SECRET": SIG,
        "ONBOARDING_RECEIVER_EVENTGRID_KEY": KEY,
        "ONBOARDING_RECEIVER_SPOOL_PATH": str(work / "spool.db"),
        "ONBOARDING_RECEIVER_MAX_BODY_BYTES": str(MAX_BODY),
        "ONBOARDING_RECEIVER_FORWARD_RETRY_MAX_S": "1",
    }
    log = work / "receiver.log"
    with receiver_process(env, port=port, log=log, secrets=(SIG, KEY)) as process:
        yield Receiver(f"http://127.0.0.1:{port}", process, log, stack)


def test_event_grid_handshake_in_both_schemas(receiver: Receiver) -> None:
    code = str(uuid.uuid4())
    answer = receiver.post_grid(grid_body(validation_event(code)))
    assert (answer.status_code, answer.json()) == (200, {"validationResponse": code})
    for key in (None, "wrong"):  # Azure sends the static delivery attributes with the validation request
        assert receiver.post_grid(grid_body(validation_event(code)), key=key).status_code == 401

    def options(**headers: str) -> httpx.Response:
        return httpx.options(f"{receiver.url}/eventgrid", headers=headers, timeout=10)

    allowed = options(**{"WebHook-Request-Origin": "eventgrid.azure.net", "X-Ama-Delivery-Key": KEY})
    assert allowed.status_code == 200
    assert allowed.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert options(**{"WebHook-Request-Origin": "eventgrid.azure.net"}).status_code == 401
    assert options(**{"X-Ama-Delivery-Key": KEY}).status_code == 400


def test_missing_or_wrong_credentials_get_401_and_no_event(receiver: Receiver) -> None:
    before = receiver.counts()
    refused = notification("PUT", "Succeeded", app_id("refused-app"))
    for sig in (None, "wrong", SIG[:-1]):
        assert receiver.notify(refused, sig=sig).status_code == 401
    pool_write = write_event(f"{CLUSTER}/agentPools/refused", AGENT_POOL_WRITE)
    for key in (None, "wrong"):
        with pytest.raises(HttpResponseError) as refusal:
            receiver.publish([pool_write], key=key)
        assert refusal.value.status_code == 401
    assert receiver.post_grid(b"not json", key=None).status_code == 401  # no parsing without the key
    assert receiver.counts() == before

    # Events leave in the order they came: once a later delivery's event is in Prefect, none of the refused is.
    marker = write_event(f"{CLUSTER}/agentPools/marker", AGENT_POOL_WRITE)
    receiver.publish([marker])
    prefect_event(receiver, f"eventgrid:{marker.id}")
    assert not read_events(
        receiver.stack, EventFilter(id=EventIDFilter(id=[event_id(f"eventgrid:{pool_write.id}")]))
    )
    assert not events_of(receiver, f"ama.application.{refused['applicationId'].lower()}")


def test_oversized_and_malformed_bodies(receiver: Receiver) -> None:
    before = receiver.counts()
    huge = notification("PUT", "Succeeded", padding="x" * MAX_BODY)
    assert receiver.notify(huge).status_code == 413
    assert receiver.post_grid(grid_body(write_event(CLUSTER, CLUSTER_WRITE)) * 300).status_code == 413
    assert receiver.notify({"eventType": "PUT"}).status_code == 400
    assert receiver.notify(None, content=b"{not json").status_code == 400
    assert receiver.post_grid([{"id": "x", "eventType": "t"}]).status_code == 400
    assert receiver.counts() == before


def test_deliveries_become_prefect_events_with_labels(receiver: Receiver) -> None:
    pool = f"{CLUSTER}/agentPools/pool2"
    vmss = f"{NODE_RG}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool2-31415926-vmss"
    writes = [
        write_event(pool, AGENT_POOL_WRITE),
        write_event(vmss, VMSS_WRITE),
        write_event(CLUSTER, CLUSTER_WRITE),
        write_event(
            f"{NODE_RG}/providers/Microsoft.Network/virtualNetworks/vnet",
            "Microsoft.Network/virtualNetworks/write",
        ),
    ]
    receiver.publish(writes)
    agent_pool = prefect_event(receiver, f"eventgrid:{writes[0].id}")
    assert agent_pool.event == "aks.agentpool.written"
    assert agent_pool.resource.id == "aks.agentpool.contoso.aks.pool2"
    assert (agent_pool.resource["customer.id"], agent_pool.resource["azure.agentpool.id"]) == (
        "contoso",
        pool,
    )
    assert agent_pool.resource["azure.cluster.id"] == CLUSTER
    scale_set = prefect_event(receiver, f"eventgrid:{writes[1].id}")
    assert (scale_set.event, scale_set.resource.id) == (
        "aks.nodepool.written",
        "aks.nodepool.contoso.aks-pool2-31415926-vmss",
    )
    assert (scale_set.resource["customer.id"], scale_set.resource["azure.vmss.id"]) == ("contoso", vmss)
    cluster = prefect_event(receiver, f"eventgrid:{writes[2].id}")
    assert (cluster.event, cluster.resource["azure.cluster.id"]) == ("aks.cluster.written", CLUSTER)
    assert not read_events(
        receiver.stack, EventFilter(id=EventIDFilter(id=[event_id(f"eventgrid:{writes[3].id}")]))
    )

    cloud = write_cloud_event(f"{CLUSTER}/agentPools/pool3", AGENT_POOL_WRITE)
    receiver.publish([cloud], customer="fabrikam")
    from_cloud = prefect_event(receiver, f"eventgrid:{cloud.id}")
    assert (from_cloud.event, from_cloud.resource["customer.id"]) == ("aks.agentpool.written", "fabrikam")

    contoso = next(spec for spec in load_catalog(REPOSITORY_CATALOG) if spec.name == "contoso")
    app = application_id(contoso)
    accepted, succeeded = notification("PUT", "Accepted", app), notification("PUT", "Succeeded", app)
    assert receiver.notify(accepted).json() == {"received": 1, "new": 1}
    assert receiver.notify(succeeded).json() == {"received": 1, "new": 1}
    provisioned = wait_for(
        lambda: events_of(receiver, f"ama.application.{app.lower()}"), what="the notification"
    )
    assert [event.event for event in provisioned] == [
        "ama.application.provisioned"
    ]  # Accepted starts nothing
    assert provisioned[0].resource["customer.id"] == "contoso"
    assert provisioned[0].resource["azure.application.id"] == app
    assert provisioned[0].payload["provisioningState"] == "Succeeded"

    stranger = notification("PUT", "Succeeded", app.replace("contoso-ama", "not-in-catalog"))
    receiver.notify(stranger)
    (unknown,) = wait_for(lambda: events_of(receiver, f"ama.application.{stranger['applicationId'].lower()}"))
    assert unknown.resource["customer.id"] == ""


def test_a_delivery_sent_twice_is_one_event(receiver: Receiver) -> None:
    pool = f"{CLUSTER}/agentPools/twice"
    write = write_event(pool, AGENT_POOL_WRITE)
    receiver.publish([write])
    receiver.publish([write])  # Event Grid's at-least-once delivery
    body = notification("DELETE", "Deleted", app_id("twice-app"))
    assert receiver.notify(body).json()["new"] == 1
    assert receiver.notify(body).json() == {"received": 1, "new": 0}  # a retried notification
    prefect_event(receiver, f"eventgrid:{write.id}")
    wait_for(lambda: events_of(receiver, f"ama.application.{body['applicationId'].lower()}"))
    time.sleep(3)  # room for a second event to show up, if there were one
    assert len(events_of(receiver, "aks.agentpool.contoso.aks.twice")) == 1
    assert len(events_of(receiver, f"ama.application.{body['applicationId'].lower()}")) == 1


def test_prefect_down_loses_nothing_and_sends_once_when_back(receiver: Receiver) -> None:
    stack = receiver.stack
    assert stack.server is not None
    _signal_group(stack.server, signal.SIGTERM)
    stack.server.wait(timeout=30)
    writes = [write_event(f"{CLUSTER}/agentPools/down{n}", AGENT_POOL_WRITE) for n in range(3)]
    down = notification("PATCH", "Succeeded", app_id("down-app"))
    try:
        receiver.publish(writes[:2])
        assert receiver.notify(down).json()["new"] == 1
        receiver.publish(writes[1:])  # a retry overlapping the first delivery
        wait_for(lambda: receiver.counts()["pending"] >= 4, what="the deliveries to wait in the spool")
        time.sleep(2)  # the forwarder tries (and fails) meanwhile
        assert receiver.counts()["pending"] >= 4
    finally:
        stack.start()  # the same port and database: the API is back
    wait_for(lambda: receiver.counts()["pending"] == 0, what="the spool to drain")
    for write in writes:
        assert prefect_event(receiver, f"eventgrid:{write.id}").event == "aks.agentpool.written"
    (updated,) = wait_for(lambda: events_of(receiver, f"ama.application.{down['applicationId'].lower()}"))
    assert updated.event == "ama.application.updated"
    time.sleep(3)
    for n in range(3):
        assert len(events_of(receiver, f"aks.agentpool.contoso.aks.down{n}")) == 1
