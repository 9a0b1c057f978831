"""Azure semantics the product could be fooled by: cross-tenant Microsoft.Authorization reads and deletes need
``tenantId``, ARM reads request JSON as Json.NET does, and long-running operations carry no ``Retry-After``.
Each behaviour's evidence is cited next to the code that implements it (and in docs/fidelity/arm.md)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient

from sandbox.authz import READER, role_definition_id
from sandbox.seed import PUBLISHER_SUBSCRIPTION_ID

from .armkit import APP_API, client_kwargs, credential, guid, list_tokens, make, send, wait_async_operation

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(sandbox: Any) -> dict[str, Any]:
    customer = sandbox.add_customer(name="semantics", adopt={"aksName": "sem"})
    sub = customer["subscription_id"]
    publisher = credential(sandbox)  # home tenant token
    return {
        "customer": customer,
        "sub": sub,
        "tenant": customer["tenant_id"],
        "home": sandbox.env["AZURE_TENANT_ID"],
        "auth": AuthorizationManagementClient(publisher, sub, **client_kwargs(sandbox)),
        "resources": make(ResourceManagementClient, sandbox, publisher, sub),
        "publisher": publisher,
        "own": make(ResourceManagementClient, sandbox, publisher, PUBLISHER_SUBSCRIPTION_ID),
    }


def _error(fn: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as err:
        fn()
    return err.value


def _names(assignments: Any) -> set[str]:
    return {a.name for a in assignments}


def test_cross_tenant_reads_need_the_customer_tenant(world: dict[str, Any]) -> None:
    auth, mrg = world["auth"], world["customer"]["managed_resource_group_id"]
    as_customer = list(
        auth.role_assignments.list_for_scope(mrg, filter="atScope()", tenant_id=world["tenant"])
    )
    assert as_customer  # the template's and the publisher authorization's assignments
    # The publisher's home tenant holds none of them: without tenantId, or naming another tenant, nothing is found.
    assert list(auth.role_assignments.list_for_scope(mrg, filter="atScope()")) == []
    assert list(auth.role_assignments.list_for_scope(mrg, filter="atScope()", tenant_id=world["home"])) == []
    assert list(auth.role_assignments.list_for_scope(mrg, tenant_id=guid())) == []
    one = as_customer[0]
    missing = _error(lambda: auth.role_assignments.get(mrg, one.name))
    assert missing.status_code == 404 and missing.error.code == "RoleAssignmentNotFound"
    assert auth.role_assignments.get(mrg, one.name, tenant_id=world["tenant"]).id == one.id


def test_cross_tenant_delete_without_tenant_id_deletes_nothing(sandbox: Any, world: dict[str, Any]) -> None:
    auth, customer = world["auth"], world["customer"]
    mrg, identity = customer["managed_resource_group_id"], customer["identity_id"]
    msi = ManagedServiceIdentityClient(world["publisher"], world["sub"], **client_kwargs(sandbox))
    app_oid = msi.user_assigned_identities.get(
        identity.split("/")[4], identity.rsplit("/", 1)[-1]
    ).principal_id
    name = guid()
    body = {
        "properties": {
            "roleDefinitionId": role_definition_id(world["sub"], READER),
            "principalId": app_oid,
            "principalType": "ServicePrincipal",
            "delegatedManagedIdentityResourceId": identity,
        }
    }
    created = auth.role_assignments.create(mrg, name, body)  # a PUT needs no tenantId (delegated identity)
    assert created.name == name
    assert auth.role_assignments.delete(mrg, name) is None  # 204: not found in the home tenant's store
    assert auth.role_assignments.get(mrg, name, tenant_id=world["tenant"]).name == name  # still there
    deleted = auth.role_assignments.delete(mrg, name, tenant_id=world["tenant"])
    assert deleted is not None and deleted.name == name
    gone = _error(lambda: auth.role_assignments.get(mrg, name, tenant_id=world["tenant"]))
    assert gone.status_code == 404


def test_a_customer_tenant_token_needs_no_tenant_id(sandbox: Any, world: dict[str, Any]) -> None:
    customer = world["customer"]
    as_app = list_tokens(sandbox, world["publisher"], customer["application_id"], world["sub"])
    auth = AuthorizationManagementClient(as_app, world["sub"], **client_kwargs(sandbox))
    mrg = customer["managed_resource_group_id"]
    with_tenant = _names(
        auth.role_assignments.list_for_scope(mrg, filter="atScope()", tenant_id=world["tenant"])
    )
    assert _names(auth.role_assignments.list_for_scope(mrg, filter="atScope()")) == with_tenant != set()


def _raw(client: Any, method: str, url: str, content: str) -> Any:
    request = HttpRequest(method, url, content=content.encode(), headers={"Content-Type": "application/json"})
    return client.send_request(request)


def test_lenient_json_bodies_as_json_net_reads_them(world: dict[str, Any]) -> None:
    resources, app = world["resources"], world["customer"]["application_id"]
    # The seed README's own listTokens body: an unquoted property name and a single-quoted string.
    seed_body = "{authorizationAudience: 'https://storage.azure.com/'}"
    answer = _raw(resources, "POST", f"{app}/listTokens?api-version={APP_API}", seed_body)
    assert answer.status_code == 200
    token = answer.json()["value"][0]["access_token"]
    assert (
        json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["aud"]
        == "https://storage.azure.com/"
    )
    # Comments and trailing commas too.
    rg = f"/subscriptions/{PUBLISHER_SUBSCRIPTION_ID}/resourceGroups/lenient-rg?api-version=2022-09-01"
    body = "{ // a resource group\n location: 'westus', /* tags */ tags: {owner: 'semantics',}, }"
    created = _raw(world["own"], "PUT", rg, body)
    assert created.status_code in (200, 201) and created.json()["tags"] == {"owner": "semantics"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{location: westus}", "Unexpected character encountered while parsing value: w. Path 'location'"),
        ('{"location": "westus"} x', "Additional text encountered after finished reading JSON content: x."),
        ("{'location' 'westus'}", "Invalid character after parsing property name. Expected ':' but got: '."),
        ('{"location": "west\\qus"}', "Bad JSON escape sequence: \\q. Path 'location'"),
        ('{"location": "westus"', "Unexpected end when reading JSON."),
    ],
)
def test_what_json_net_rejects_is_invalid_request_content(
    world: dict[str, Any], body: str, message: str
) -> None:
    rg = f"/subscriptions/{PUBLISHER_SUBSCRIPTION_ID}/resourceGroups/lenient-bad?api-version=2022-09-01"
    answer = _raw(world["own"], "PUT", rg, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "InvalidRequestContent"
    assert error["message"].startswith("The request content was invalid and could not be deserialized: '")
    assert message in error["message"]


def test_long_running_operations_carry_no_retry_after(world: dict[str, Any]) -> None:
    resources, app = world["resources"], world["customer"]["application_id"]
    started = send(resources, "POST", f"{app}/refreshPermissions?api-version={APP_API}")
    assert started.status_code == 202 and "Azure-AsyncOperation" in started.headers
    assert "Retry-After" not in started.headers
    status = send(resources, "GET", started.headers["Azure-AsyncOperation"])
    assert "Retry-After" not in status.headers
    assert wait_async_operation(resources, started) == "Succeeded"
