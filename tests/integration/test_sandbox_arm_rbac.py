"""Role assignments and definitions, propagation, PrincipalNotFound, identities and federated credentials, paging."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient

from sandbox.authz import CONTRIBUTOR, READER, role_definition_id
from sandbox.seed import PUBLISHER_SUBSCRIPTION_ID

from .armkit import client_kwargs, credential, eventually, guid, list_all, make, send

pytestmark = pytest.mark.integration
SUB = PUBLISHER_SUBSCRIPTION_ID
SUBSCRIPTIONS_API = "2022-12-01"
MSI_API = "2023-01-31"
BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
# The built-in roles the product uses, with their ids in Azure and an action (or dataAction) that defines them.
BUILT_IN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": ("Owner", "*", None),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": ("Contributor", "*", None),
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": ("Reader", "*/read", None),
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c": (
        "Virtual Machine Contributor",
        "Microsoft.Compute/virtualMachineScaleSets/*",
        None,
    ),
    "f1a07417-d97a-45cb-824c-7a7467783830": (
        "Managed Identity Operator",
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
        None,
    ),
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": (
        "Storage Blob Data Reader",
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
        f"{BLOBS}/read",
    ),
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": (
        "Storage Blob Data Contributor",
        "Microsoft.Storage/storageAccounts/blobServices/containers/write",
        f"{BLOBS}/write",
    ),
    # The seed README's "Virtual Machine Contributor" id is this one (classic compute only).
    "d73bb868-a0df-4d4d-bd69-98a00b01fccb": (
        "Classic Virtual Machine Contributor",
        "Microsoft.ClassicCompute/virtualMachines/*",
        None,
    ),
    # The seed's mainTemplate gives it to the cluster for Container Insights.
    "3913510d-42f4-4e42-8a64-420c390055eb": (
        "Monitoring Metrics Publisher",
        "Microsoft.Insights/Register/Action",
        "Microsoft.Insights/Metrics/Write",
    ),
}


@pytest.fixture(scope="module")
def clients(sandbox: Any) -> dict[str, Any]:
    cred = credential(sandbox)
    resources = make(ResourceManagementClient, sandbox, cred, SUB)
    resources.resource_groups.create_or_update("rbac-rg", {"location": "westus"})
    publisher = next(
        p for p in sandbox.state()["principals"] if p["client_id"] == sandbox.env["AZURE_CLIENT_ID"]
    )
    return {
        "cred": cred,
        "publisher_oid": publisher["object_id"],
        "tenant": sandbox.env["AZURE_TENANT_ID"],
        "resources": resources,
        "auth": AuthorizationManagementClient(cred, SUB, **client_kwargs(sandbox)),
        "msi": ManagedServiceIdentityClient(cred, SUB, **client_kwargs(sandbox)),
    }


@pytest.fixture(scope="module")
def customer(sandbox: Any) -> dict[str, Any]:
    return sandbox.add_customer(name="rbaccust")


def _error(fn: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as err:
        fn()
    return err.value


def _params(role: str, principal: str, principal_type: str | None = "ServicePrincipal") -> dict[str, Any]:
    properties = {"roleDefinitionId": role_definition_id(SUB, role), "principalId": principal}
    if principal_type:
        properties["principalType"] = principal_type
    return {"properties": properties}


def test_assignment_crud_filters_and_conflicts(sandbox: Any, clients: dict[str, Any]) -> None:
    auth, rg = clients["auth"], f"/subscriptions/{SUB}/resourceGroups/rbac-rg"
    sandbox.set_timing(principal_not_found_s=0.0)  # replicated at once: this test is about the other errors
    try:
        _crud(auth, rg, clients)
    finally:
        sandbox.reset_timing()


def _crud(auth: Any, rg: str, clients: dict[str, Any]) -> None:
    identity = clients["msi"].user_assigned_identities.create_or_update(
        "rbac-rg", "ra-target", {"location": "westus"}
    )
    name = guid()
    created = auth.role_assignments.create(rg, name, _params(READER, identity.principal_id))
    assert created.scope == rg and created.principal_type == "ServicePrincipal"
    # The PUT's answer: createdBy still null, updatedBy the caller; every later read: both the caller
    # (Azure/azure-cli role recordings/test_role_assignment_create_using_principal_type.yaml).
    assert created.created_by is None and created.updated_by == clients["publisher_oid"]
    assert auth.role_assignments.get(rg, name).created_by == clients["publisher_oid"]
    again = auth.role_assignments.create(rg, name, _params(READER, identity.principal_id))
    assert again.id == created.id
    changed = _error(
        lambda: auth.role_assignments.create(rg, name, _params(CONTRIBUTOR, identity.principal_id))
    )
    assert changed.status_code == 400 and changed.error.code == "RoleAssignmentUpdateNotPermitted"
    assert auth.role_assignments.get(rg, name).role_definition_id.endswith(READER)  # unchanged
    dup = _error(lambda: auth.role_assignments.create(rg, guid(), _params(READER, identity.principal_id)))
    assert dup.status_code == 409 and dup.error.code == "RoleAssignmentExists"
    assert auth.role_assignments.get(rg, name).principal_id == identity.principal_id
    by_principal = list(
        auth.role_assignments.list_for_scope(rg, filter=f"principalId eq '{identity.principal_id}'")
    )
    assert [a.name for a in by_principal] == [name]
    at_sub = list(auth.role_assignments.list_for_subscription(filter="atScope()"))
    assert name not in {a.name for a in at_sub}  # atScope(): at or above, never below
    assert name in {a.name for a in auth.role_assignments.list_for_subscription()}
    home = clients["tenant"]
    assert name in {a.name for a in auth.role_assignments.list_for_resource_group("rbac-rg", tenant_id=home)}
    # Another tenant's store holds nothing at this scope (see test_sandbox_arm_semantics for cross-tenant).
    assert name not in {
        a.name for a in auth.role_assignments.list_for_resource_group("rbac-rg", tenant_id=guid())
    }
    deleted = auth.role_assignments.delete(rg, name)
    assert deleted is not None and deleted.name == name
    assert auth.role_assignments.delete(rg, name) is None  # 204: already gone
    missing = _error(lambda: auth.role_assignments.get(rg, name))
    assert missing.status_code == 404


def test_subscriptions_and_resource_groups(clients: dict[str, Any]) -> None:
    resources = clients["resources"]
    assert resources.resource_groups.check_existence("rbac-rg")
    assert not resources.resource_groups.check_existence("no-such-rg")
    assert {"publisher-rg", "rbac-rg"} <= {g.name for g in resources.resource_groups.list()}
    missing = _error(lambda: resources.resource_groups.get("no-such-rg"))
    assert missing.status_code == 404 and missing.error.code == "ResourceGroupNotFound"


def test_subscriptions_list_and_get(sandbox: Any, clients: dict[str, Any], customer: dict[str, Any]) -> None:
    resources = clients["resources"]
    listed = {
        s["subscriptionId"]: s for s in list_all(resources, f"/subscriptions?api-version={SUBSCRIPTIONS_API}")
    }
    assert listed[SUB]["tenantId"] == sandbox.env["AZURE_TENANT_ID"] and listed[SUB]["state"] == "Enabled"
    # The publisher holds a role in the customer's subscription (Contributor on its application group).
    assert listed[customer["subscription_id"]]["tenantId"] == customer["tenant_id"]
    got = send(resources, "GET", f"/subscriptions/{SUB}?api-version={SUBSCRIPTIONS_API}").json()
    assert got == listed[SUB] and got["id"] == f"/subscriptions/{SUB}"
    stranger = sandbox.add_principal(display_name="no-roles")
    as_stranger = make(
        ResourceManagementClient,
        sandbox,
        credential(sandbox, client_id=stranger["client_id"], secret=stranger["secret"]),
        SUB,
    )
    assert list_all(as_stranger, f"/subscriptions?api-version={SUBSCRIPTIONS_API}") == []
    denied = _error(lambda: send(as_stranger, "GET", f"/subscriptions/{SUB}?api-version={SUBSCRIPTIONS_API}"))
    assert denied.status_code == 403 and denied.error.code == "AuthorizationFailed"


def test_routing_ignores_case(clients: dict[str, Any]) -> None:
    identity = clients["msi"].user_assigned_identities.create_or_update(
        "rbac-rg", "Case-Id", {"location": "westus"}
    )
    path = (
        f"/subscriptions/{SUB}/resourceGroups/rbac-rg/providers/Microsoft.ManagedIdentity/"
        "userAssignedIdentities/Case-Id"
    )
    for variant in (path.lower(), path.upper()):
        response = send(clients["resources"], "GET", f"{variant}?api-version={MSI_API}")
        assert response.status_code == 200 and response.json()["id"] == identity.id
    assert clients["msi"].user_assigned_identities.get("RBAC-RG", "CASE-ID").id == identity.id


def test_role_definitions(clients: dict[str, Any]) -> None:
    auth, scope = clients["auth"], f"/subscriptions/{SUB}"
    found = list(auth.role_definitions.list(scope, filter="roleName eq 'Virtual Machine Contributor'"))
    assert [d.role_name for d in found] == ["Virtual Machine Contributor"]
    assert auth.role_definitions.get(scope, CONTRIBUTOR).role_name == "Contributor"
    listed = {d.name: d for d in auth.role_definitions.list(scope)}
    for role_id, (role_name, action, data_action) in BUILT_IN_ROLES.items():
        got = auth.role_definitions.get(scope, role_id)
        assert got.id == f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"
        assert got.role_name == listed[role_id].role_name == role_name and got.role_type == "BuiltInRole"
        by_name = list(auth.role_definitions.list(scope, filter=f"roleName eq '{role_name}'"))
        assert [d.name for d in by_name] == [role_id]
        permissions = got.permissions[0]
        assert action in permissions.actions
        assert (data_action in permissions.data_actions) if data_action else not permissions.data_actions
    contributor = auth.role_definitions.get(scope, "b24988ac-6180-42a0-ab88-20f7382dd24c").permissions[0]
    assert "Microsoft.Authorization/*/Write" in contributor.not_actions  # no role assignments
    classic = auth.role_definitions.get(scope, "d73bb868-a0df-4d4d-bd69-98a00b01fccb")
    assert not [
        a for a in classic.permissions[0].actions if a.startswith("Microsoft.Compute/")
    ]  # no scale sets
    assert classic.description.startswith("Lets you manage classic virtual machines")
    missing = _error(lambda: auth.role_definitions.get(scope, guid()))
    assert missing.status_code == 404 and missing.error.code == "RoleDefinitionDoesNotExist"


def test_user_assigned_identity_ids(sandbox: Any, customer: dict[str, Any]) -> None:
    sub = customer["subscription_id"]
    msi = ManagedServiceIdentityClient(credential(sandbox), sub, **client_kwargs(sandbox))
    created = msi.user_assigned_identities.create_or_update(
        customer["application_resource_group"], "tenant-check", {"location": "westus"}
    )
    got = msi.user_assigned_identities.get(customer["application_resource_group"], "tenant-check")
    assert (got.tenant_id, got.principal_id, got.client_id) == (
        created.tenant_id,
        created.principal_id,
        created.client_id,
    )
    # The customer's tenant (the subscription's), not the publisher's who created it.
    assert got.tenant_id == customer["tenant_id"] != sandbox.env["AZURE_TENANT_ID"]
    principal = next(p for p in sandbox.state()["principals"] if p["object_id"] == got.principal_id)
    assert principal["kind"] == "ManagedIdentity" and principal["client_id"] == got.client_id
    assert principal["tenant_id"] == customer["tenant_id"] and principal["resource_id"] == got.id
    assert got.principal_id != got.client_id


def test_principal_not_found_window(sandbox: Any, clients: dict[str, Any]) -> None:
    sandbox.set_timing(principal_not_found_s=2.0)
    try:
        identity = clients["msi"].user_assigned_identities.create_or_update(
            "rbac-rg", "fresh", {"location": "westus"}
        )
        rg, name = f"/subscriptions/{SUB}/resourceGroups/rbac-rg", guid()
        untyped = _params(READER, identity.principal_id, principal_type=None)  # the directory lookup runs
        err = _error(lambda: clients["auth"].role_assignments.create(rg, name, untyped))
        assert err.status_code == 400 and err.error.code == "PrincipalNotFound"
        started = time.monotonic()
        eventually(lambda: clients["auth"].role_assignments.create(rg, name, untyped))
        assert time.monotonic() - started < 8
    finally:
        sandbox.reset_timing()


def test_write_denied_until_the_assignment_propagates(sandbox: Any, clients: dict[str, Any]) -> None:
    other = sandbox.add_principal(display_name="late-contributor")
    other_cred = credential(sandbox, client_id=other["client_id"], secret=other["secret"])
    other_msi = ManagedServiceIdentityClient(other_cred, SUB, **client_kwargs(sandbox))
    create = lambda: other_msi.user_assigned_identities.create_or_update(  # noqa: E731
        "rbac-rg", "by-other", {"location": "westus"}
    )
    denied = _error(create)
    assert denied.status_code == 403 and denied.error.code == "AuthorizationFailed"
    sandbox.set_timing(role_propagation_s=2.0)
    try:
        clients["auth"].role_assignments.create(
            f"/subscriptions/{SUB}/resourceGroups/rbac-rg", guid(), _params(CONTRIBUTOR, other["object_id"])
        )
        still = _error(create)
        assert still.status_code == 403 and still.error.code == "AuthorizationFailed"
        assert eventually(create).name == "by-other"
    finally:
        sandbox.reset_timing()
    # Contributor cannot grant roles.
    other_auth = AuthorizationManagementClient(other_cred, SUB, **client_kwargs(sandbox))
    err = _error(
        lambda: other_auth.role_assignments.create(
            f"/subscriptions/{SUB}/resourceGroups/rbac-rg", guid(), _params(READER, other["object_id"])
        )
    )
    assert err.status_code == 403 and err.error.code == "AuthorizationFailed"


def test_federated_credentials(clients: dict[str, Any]) -> None:
    msi = clients["msi"]
    msi.user_assigned_identities.create_or_update("rbac-rg", "wi", {"location": "westus"})
    fic = msi.federated_identity_credentials.create_or_update(
        "rbac-rg",
        "wi",
        "app",
        {
            "properties": {
                "issuer": "https://issuer.example/",
                "subject": "system:serviceaccount:a:b",
                "audiences": ["api://AzureADTokenExchange"],
            }
        },
    )
    assert fic.subject == "system:serviceaccount:a:b"
    assert [f.name for f in msi.federated_identity_credentials.list("rbac-rg", "wi")] == ["app"]
    assert msi.federated_identity_credentials.get("rbac-rg", "wi", "app").issuer == "https://issuer.example/"
    msi.federated_identity_credentials.delete("rbac-rg", "wi", "app")
    assert list(msi.federated_identity_credentials.list("rbac-rg", "wi")) == []


def test_paging_follows_next_link(sandbox: Any, clients: dict[str, Any]) -> None:
    msi = clients["msi"]
    clients["resources"].resource_groups.create_or_update("paging-rg", {"location": "westus"})
    for i in range(55):
        msi.user_assigned_identities.create_or_update("paging-rg", f"id{i:02d}", {"location": "westus"})
    since = sandbox.admin("GET", "/requests?since=0")["next"]
    names = [i.name for i in msi.user_assigned_identities.list_by_resource_group("paging-rg")]
    assert names == [f"id{i:02d}" for i in range(55)]
    pages = [
        r
        for r in sandbox.requests_log(since)
        if r["path"].lower().endswith("/paging-rg/providers/microsoft.managedidentity/userassignedidentities")
    ]
    assert len(pages) == 2 and "$skiptoken" in pages[1]["query"]
