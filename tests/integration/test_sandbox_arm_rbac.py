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

from .armkit import client_kwargs, credential, eventually, guid, make

pytestmark = pytest.mark.integration
SUB = PUBLISHER_SUBSCRIPTION_ID


@pytest.fixture(scope="module")
def clients(sandbox: Any) -> dict[str, Any]:
    cred = credential(sandbox)
    resources = make(ResourceManagementClient, sandbox, cred, SUB)
    resources.resource_groups.create_or_update("rbac-rg", {"location": "westus"})
    return {
        "cred": cred,
        "resources": resources,
        "auth": AuthorizationManagementClient(cred, SUB, **client_kwargs(sandbox)),
        "msi": ManagedServiceIdentityClient(cred, SUB, **client_kwargs(sandbox)),
    }


def _error(fn: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as err:
        fn()
    return err.value


def _params(role: str, principal: str) -> dict[str, Any]:
    return {
        "properties": {
            "roleDefinitionId": role_definition_id(SUB, role),
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }
    }


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
    again = auth.role_assignments.create(rg, name, _params(READER, identity.principal_id))
    assert again.id == created.id
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
    assert name in {
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


def test_role_definitions(clients: dict[str, Any]) -> None:
    auth, scope = clients["auth"], f"/subscriptions/{SUB}"
    found = list(auth.role_definitions.list(scope, filter="roleName eq 'Virtual Machine Contributor'"))
    assert [d.role_name for d in found] == ["Virtual Machine Contributor"]
    assert auth.role_definitions.get(scope, CONTRIBUTOR).role_name == "Contributor"


def test_principal_not_found_window(sandbox: Any, clients: dict[str, Any]) -> None:
    sandbox.set_timing(principal_not_found_s=2.0)
    try:
        identity = clients["msi"].user_assigned_identities.create_or_update(
            "rbac-rg", "fresh", {"location": "westus"}
        )
        rg, name = f"/subscriptions/{SUB}/resourceGroups/rbac-rg", guid()
        err = _error(
            lambda: clients["auth"].role_assignments.create(rg, name, _params(READER, identity.principal_id))
        )
        assert err.status_code == 400 and err.error.code == "PrincipalNotFound"
        started = time.monotonic()
        eventually(
            lambda: clients["auth"].role_assignments.create(rg, name, _params(READER, identity.principal_id))
        )
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
