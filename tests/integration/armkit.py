"""Helpers for the sandbox ARM tests: real SDK clients pointed at the sandbox, and a token credential for
tokens obtained out of band (listTokens), as the product does."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from sandbox.client import SandboxProcess

SCOPES = ["https://management.azure.com/.default"]
APP_API = "2019-07-01"
T = TypeVar("T")


class StaticToken(TokenCredential):
    """A bearer token obtained elsewhere (e.g. from listTokens) offered through azure-core's protocol."""

    def __init__(self, token: str, expires_on: int) -> None:
        self._token = AccessToken(token, expires_on)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return self._token


def client_kwargs(box: SandboxProcess) -> dict[str, Any]:
    return {
        "base_url": box.env["SANDBOX_ARM_URL"],
        "credential_scopes": SCOPES,
        "connection_verify": box.env["SANDBOX_CA_BUNDLE"],
        "polling_interval": 0.05,
    }


def credential(
    box: SandboxProcess, tenant: str | None = None, client_id: str | None = None, secret: str | None = None
) -> ClientSecretCredential:
    return ClientSecretCredential(
        tenant or box.env["AZURE_TENANT_ID"],
        client_id or box.env["AZURE_CLIENT_ID"],
        secret or box.env["AZURE_CLIENT_SECRET"],
        authority=box.env["SANDBOX_AAD_URL"],
        disable_instance_discovery=True,
    )


def make(client_cls: Callable[..., T], box: SandboxProcess, cred: TokenCredential, subscription_id: str) -> T:
    return client_cls(cred, subscription_id, **client_kwargs(box))


def send(client: Any, method: str, url: str, body: Any = None) -> Any:
    """A POST action through the client's authenticated ARM pipeline; raises HttpResponseError on failure."""
    request = HttpRequest(method, url, json=body) if body is not None else HttpRequest(method, url)
    response = client.send_request(request)
    if response.status_code >= 400:
        raise HttpResponseError(response=response)
    return response


def list_all(client: Any, url: str) -> list[dict[str, Any]]:
    """GET an ARM list through the client's pipeline, following ``nextLink`` to the last page."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        page = send(client, "GET", next_url).json()
        items += page["value"]
        next_url = page.get("nextLink")
    return items


def deploy_app(
    box: SandboxProcess, cred: TokenCredential, customer: dict[str, Any], name: str, **parameters: Any
) -> dict[str, Any]:
    """PUT a ServiceCatalog managed application as the publisher and wait for it (generic resources LRO)."""
    resources = make(ResourceManagementClient, box, cred, customer["subscription_id"])
    app_id = f"{customer['application_resource_group_id']}/providers/Microsoft.Solutions/applications/{name}"
    parameters.setdefault("aksName", f"{name}-aks")
    body = {
        "location": "westus",
        "kind": "ServiceCatalog",
        "properties": {
            "applicationDefinitionId": box.env["ONBOARDING_APPLICATION_DEFINITION_ID"],
            "managedResourceGroupId": f"/subscriptions/{customer['subscription_id']}"
            f"/resourceGroups/{name}-mrg",
            "parameters": {k: {"value": v} for k, v in parameters.items()},
        },
    }
    poller = resources.resources.begin_create_or_update_by_id(app_id, body, api_version=APP_API)
    result = poller.result()
    assert result.properties["provisioningState"] == "Succeeded"
    return json.loads(json.dumps(result.as_dict()))


def outputs(app: dict[str, Any]) -> dict[str, str]:
    return {k: v["value"] for k, v in app["properties"]["outputs"].items()}


def list_tokens(
    box: SandboxProcess,
    cred: TokenCredential,
    app_id: str,
    subscription_id: str,
    audience: str = "https://management.azure.com/",
) -> StaticToken:
    resources = make(ResourceManagementClient, box, cred, subscription_id)
    response = send(
        resources, "POST", f"{app_id}/listTokens?api-version={APP_API}", {"authorizationAudience": audience}
    )
    token = response.json()["value"][0]
    return StaticToken(token["access_token"], int(token["expires_on"]))


def eventually(fn: Callable[[], T], timeout_s: float = 10.0, interval_s: float = 0.05) -> T:
    """Retry ``fn`` until it stops raising (the sandbox's delays are short in the fast profile)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval_s)


def guid() -> str:
    return str(uuid.uuid4())


def wait_async_operation(client: Any, response: Any, timeout_s: float = 10.0) -> str:
    """Follow an ``Azure-AsyncOperation`` header to a terminal status (honouring Retry-After)."""
    url = response.headers["Azure-AsyncOperation"]
    deadline = time.monotonic() + timeout_s
    while True:
        status = send(client, "GET", url)
        body = status.json()
        if body["status"] != "InProgress" or time.monotonic() > deadline:
            return str(body["status"])
        time.sleep(float(status.headers.get("Retry-After", 0.05)))
