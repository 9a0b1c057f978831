"""Managed application notifications from the sandbox to a publisher's webhook (a local HTTP receiver here),
driven through the real azure-mgmt-resource client as the product drives applications."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient

from sandbox import seed
from sandbox.client import SandboxProcess

from .armkit import APP_API, credential, eventually, list_all, make

pytestmark = pytest.mark.integration

DEF_API = "2021-07-01"
SECRET = "s3cr3t-token"
EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
EMPTY_TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "resources": [],
    "outputs": {"ready": {"type": "bool", "value": True}},
}
# A role assignment to a principal the directory does not have: valid, but the deployment fails.
FAILING_TEMPLATE = {
    **EMPTY_TEMPLATE,
    "resources": [
        {
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": "2022-04-01",
            "name": "[guid(resourceGroup().id, 'nobody')]",
            "properties": {
                "roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                "'acdd72a7-3385-48ef-bd42-f606fba81ae7')]",
                "principalId": "0badc0de-0000-4000-8000-000000000000",
            },
        }
    ],
}


class Receiver:
    """A publisher's webhook: records each POST (path, query, JSON body) and answers from a script per path
    (200 once the script is used up)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: dict[str, deque[int]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                url = urlsplit(self.path)
                with receiver.lock:
                    script = receiver.script.get(url.path)
                    status = script.popleft() if script else 200
                    receiver.received.append(
                        {
                            "path": url.path,
                            "query": url.query,
                            "content_type": self.headers.get("Content-Type"),
                            "body": json.loads(self.rfile.read(length)),
                            "status": status,
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def endpoint(self, name: str) -> str:
        """The uri a publisher registers: a path of its own and the secret in the query."""
        return f"{self.base}/hooks/{name}?sig={SECRET}"

    def events(self, name: str, status: int | None = 200) -> list[tuple[str, str]]:
        """(eventType, provisioningState) of the deliveries to ``name`` answered ``status`` (None: all)."""
        with self.lock:
            return [
                (r["body"]["eventType"], r["body"]["provisioningState"])
                for r in self.received
                if r["path"] == f"/hooks/{name}/resource" and (status is None or r["status"] == status)
            ]

    def bodies(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if r["path"] == f"/hooks/{name}/resource"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    box = Receiver()
    yield box
    box.server.shutdown()


@pytest.fixture(scope="module")
def ctx(sandbox: SandboxProcess) -> dict[str, Any]:
    cred = credential(sandbox)
    customer = sandbox.add_customer(name="notif")
    publisher_rg = seed.PUBLISHER_RG_ID
    publisher = make(ResourceManagementClient, sandbox, cred, seed.PUBLISHER_SUBSCRIPTION_ID)
    customer_client = make(ResourceManagementClient, sandbox, cred, customer["subscription_id"])
    seeded = publisher.resources.get_by_id(seed.APPLICATION_DEFINITION_ID, api_version=DEF_API)
    return {
        "customer": customer,
        "publisher": publisher,
        "resources": customer_client,
        "publisher_rg": publisher_rg,
        "authorizations": seeded.properties["authorizations"],
    }


def _definition(ctx: dict[str, Any], name: str, uri: str, template: dict[str, Any]) -> str:
    definition_id = f"{ctx['publisher_rg']}/providers/Microsoft.Solutions/applicationDefinitions/{name}"
    body = {
        "location": "westus",
        "properties": {
            "lockLevel": "ReadOnly",
            "displayName": name,
            "authorizations": ctx["authorizations"],
            "mainTemplate": template,
            "notificationPolicy": {"notificationEndpoints": [{"uri": uri}]},
        },
    }
    ctx["publisher"].resources.begin_create_or_update_by_id(definition_id, body, api_version=DEF_API).result()
    return definition_id


def _app_body(ctx: dict[str, Any], name: str, definition_id: str) -> dict[str, Any]:
    return {
        "location": "westus",
        "kind": "ServiceCatalog",
        "properties": {
            "applicationDefinitionId": definition_id,
            "managedResourceGroupId": f"/subscriptions/{ctx['customer']['subscription_id']}/resourceGroups/{name}-mrg",
        },
    }


def _app_id(ctx: dict[str, Any], name: str) -> str:
    return f"{ctx['customer']['application_resource_group_id']}/providers/Microsoft.Solutions/applications/{name}"


def _until(fn: Any, expected: Any) -> None:
    def check() -> None:
        assert fn() == expected

    eventually(check)


def test_definition_keeps_its_notification_policy(ctx: dict[str, Any], receiver: Receiver) -> None:
    definition_id = _definition(ctx, "keeps", receiver.endpoint("keeps"), EMPTY_TEMPLATE)
    got = ctx["publisher"].resources.get_by_id(definition_id, api_version=DEF_API)
    assert got.properties["notificationPolicy"] == {
        "notificationEndpoints": [{"uri": receiver.endpoint("keeps")}]
    }
    listed = list_all(
        ctx["publisher"],
        f"{ctx['publisher_rg']}/providers/Microsoft.Solutions/applicationDefinitions?api-version={DEF_API}",
    )
    assert definition_id.lower() in {r["id"].lower() for r in listed}


def test_put_patch_delete_are_notified(
    sandbox: SandboxProcess, ctx: dict[str, Any], receiver: Receiver
) -> None:
    definition_id = _definition(ctx, "lifecycle", receiver.endpoint("lifecycle"), EMPTY_TEMPLATE)
    app_id = _app_id(ctx, "lifecycle")
    resources = ctx["resources"]
    app = resources.resources.begin_create_or_update_by_id(
        app_id, _app_body(ctx, "lifecycle", definition_id), api_version=APP_API
    ).result()
    assert app.properties["provisioningState"] == "Succeeded"
    _until(lambda: receiver.events("lifecycle"), [("PUT", "Accepted"), ("PUT", "Succeeded")])

    resources.resources.begin_update_by_id(app_id, {"tags": {"tier": "gold"}}, api_version=APP_API).result()
    _until(lambda: receiver.events("lifecycle")[2:], [("PATCH", "Succeeded")])
    assert resources.resources.get_by_id(app_id, api_version=APP_API).tags == {"tier": "gold"}

    resources.resources.begin_delete_by_id(app_id, api_version=APP_API).result()
    _until(lambda: receiver.events("lifecycle")[3:], [("DELETE", "Deleting"), ("DELETE", "Deleted")])

    deliveries = receiver.bodies("lifecycle")
    assert {d["query"] for d in deliveries} == {f"sig={SECRET}"}
    assert {d["content_type"].split(";")[0] for d in deliveries} == {"application/json"}
    for delivery in deliveries:
        body = delivery["body"]
        assert set(body) == {
            "eventType",
            "applicationId",
            "eventTime",
            "provisioningState",
            "applicationDefinitionId",
        }
        assert body["applicationId"].lower() == app_id.lower()
        assert body["applicationDefinitionId"].lower() == definition_id.lower()
        assert EVENT_TIME.match(body["eventTime"])

    log = [
        a
        for a in sandbox.admin("GET", "/notifications")["attempts"]
        if a["applicationId"].lower() == app_id.lower()
    ]
    assert [(a["eventType"], a["provisioningState"], a["attempt"], a["status"]) for a in log] == [
        ("PUT", "Accepted", 1, 200),
        ("PUT", "Succeeded", 1, 200),
        ("PATCH", "Succeeded", 1, 200),
        ("DELETE", "Deleting", 1, 200),
        ("DELETE", "Deleted", 1, 200),
    ]
    assert {a["uri"] for a in log} == {f"{receiver.base}/hooks/lifecycle/resource"}
    assert SECRET not in json.dumps(sandbox.admin("GET", "/notifications"))


def test_failed_deployment_is_notified_with_its_error(ctx: dict[str, Any], receiver: Receiver) -> None:
    definition_id = _definition(ctx, "failing", receiver.endpoint("failing"), FAILING_TEMPLATE)
    poller = ctx["resources"].resources.begin_create_or_update_by_id(
        _app_id(ctx, "failing"), _app_body(ctx, "failing", definition_id), api_version=APP_API
    )
    with pytest.raises(HttpResponseError) as err:
        poller.result()
    assert err.value.error is not None and err.value.error.code == "ApplianceDeploymentFailed"
    _until(lambda: receiver.events("failing"), [("PUT", "Accepted"), ("PUT", "Failed")])
    failed = receiver.bodies("failing")[-1]["body"]
    assert failed["error"]["code"] == "ApplianceDeploymentFailed"
    assert failed["error"]["details"][0]["code"] == "PrincipalNotFound"
    assert "error" not in receiver.bodies("failing")[0]["body"]


def test_server_errors_are_retried_with_backoff(
    sandbox: SandboxProcess, ctx: dict[str, Any], receiver: Receiver
) -> None:
    receiver.script["/hooks/retried/resource"] = deque([500, 503])
    definition_id = _definition(ctx, "retried", receiver.endpoint("retried"), EMPTY_TEMPLATE)
    app_id = _app_id(ctx, "retried")
    ctx["resources"].resources.begin_create_or_update_by_id(
        app_id, _app_body(ctx, "retried", definition_id), api_version=APP_API
    ).result()
    _until(lambda: receiver.events("retried"), [("PUT", "Accepted"), ("PUT", "Succeeded")])
    assert receiver.events("retried", status=None) == [("PUT", "Accepted")] * 3 + [("PUT", "Succeeded")]
    log = [
        a
        for a in sandbox.admin("GET", "/notifications")["attempts"]
        if a["applicationId"].lower() == app_id.lower()
    ]
    assert [(a["provisioningState"], a["attempt"], a["status"]) for a in log] == [
        ("Accepted", 1, 500),
        ("Accepted", 2, 503),
        ("Accepted", 3, 200),
        ("Succeeded", 1, 200),
    ]


def test_client_errors_are_not_retried(
    sandbox: SandboxProcess, ctx: dict[str, Any], receiver: Receiver
) -> None:
    """Azure retries >= 500, 429 and no answer; a 401 (a wrong secret) is final."""
    receiver.script["/hooks/refused/resource"] = deque([401, 429])
    definition_id = _definition(ctx, "refused", receiver.endpoint("refused"), EMPTY_TEMPLATE)
    ctx["resources"].resources.begin_create_or_update_by_id(
        _app_id(ctx, "refused"), _app_body(ctx, "refused", definition_id), api_version=APP_API
    ).result()
    _until(
        lambda: receiver.events("refused", status=None),
        [("PUT", "Accepted"), ("PUT", "Succeeded"), ("PUT", "Succeeded")],
    )


def test_unreachable_endpoint_is_retried_then_logged(sandbox: SandboxProcess, ctx: dict[str, Any]) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_port
    closed.server_close()
    definition_id = _definition(ctx, "unreachable", f"http://127.0.0.1:{port}/x?sig={SECRET}", EMPTY_TEMPLATE)
    app_id = _app_id(ctx, "unreachable")
    ctx["resources"].resources.begin_create_or_update_by_id(
        app_id, _app_body(ctx, "unreachable", definition_id), api_version=APP_API
    ).result()

    def failures() -> list[dict[str, Any]]:
        attempts = sandbox.admin("GET", "/notifications")["attempts"]
        found = [a for a in attempts if a["applicationId"].lower() == app_id.lower()]
        assert len(found) >= 2
        return found

    found = eventually(failures)
    assert found[0]["status"] is None and "refused" in found[0]["failure"].lower()
    assert [a["attempt"] for a in found[:2]] == [1, 2]


def test_marketplace_plan_endpoint(sandbox: SandboxProcess, ctx: dict[str, Any], receiver: Receiver) -> None:
    plan = {"publisher": "notif-publisher", "product": "ama-aks", "name": "aks", "version": "1.0.0"}
    registered = sandbox.admin(
        "PUT",
        "/marketplace/notification-endpoint",
        {
            "publisher": "Notif-Publisher",
            "product": "ama-aks",
            "plan": "aks",
            "uri": receiver.endpoint("market"),
        },
    )
    assert {
        "publisher": "Notif-Publisher",
        "product": "ama-aks",
        "plan": "aks",
        "uri": f"{receiver.base}/hooks/market",
    } in registered["endpoints"]
    sub = ctx["customer"]["subscription_id"]
    body = {
        "location": "westus",
        "kind": "MarketPlace",
        "plan": plan,
        "properties": {
            "managedResourceGroupId": f"/subscriptions/{sub}/resourceGroups/market-mrg",
            "parameters": {
                "aksName": {"value": "market"},
                "nodeResourceGroup": {"value": "market-nodes"},
                "assignKubeletRoles": {"value": False},
            },
        },
    }
    app_id = _app_id(ctx, "market")
    app = ctx["resources"].resources.begin_create_or_update_by_id(app_id, body, api_version=APP_API).result()
    _until(lambda: receiver.events("market"), [("PUT", "Accepted"), ("PUT", "Succeeded")])
    succeeded = receiver.bodies("market")[-1]
    assert succeeded["query"] == f"sig={SECRET}"
    assert succeeded["body"]["plan"] == plan
    assert "applicationDefinitionId" not in succeeded["body"]
    usage_id = succeeded["body"]["billingDetails"]["resourceUsageId"]
    assert uuid.UUID(usage_id) and app.properties["billingDetails"] == {"resourceUsageId": usage_id}
    sandbox.admin(
        "DELETE", "/marketplace/notification-endpoint?publisher=notif-publisher&product=ama-aks&plan=aks"
    )
    ctx["resources"].resources.begin_delete_by_id(app_id, api_version=APP_API).result()
    assert receiver.events("market") == [("PUT", "Accepted"), ("PUT", "Succeeded")]


def test_clearing_the_log(sandbox: SandboxProcess, receiver: Receiver) -> None:
    def uris() -> set[str]:
        return {a["uri"] for a in sandbox.admin("GET", "/notifications")["attempts"]}

    assert f"{receiver.base}/hooks/lifecycle/resource" in uris()
    sandbox.admin("DELETE", "/notifications")
    assert f"{receiver.base}/hooks/lifecycle/resource" not in uris()
