"""Scale set identity PATCH: LRO, Azure's validation, linked authorization, conflicts, lockdown, upgrade drift."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient

from sandbox.authz import MANAGED_IDENTITY_OPERATOR, role_definition_id

from .armkit import client_kwargs, credential, eventually, guid, list_tokens, make

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(sandbox: Any) -> dict[str, Any]:
    customer = sandbox.add_customer(name="vmsstest", adopt={"aksName": "vk", "identityNodeRoleName": "Owner"})
    publisher = credential(sandbox)
    sub = customer["subscription_id"]
    msi = ManagedServiceIdentityClient(publisher, sub, **client_kwargs(sandbox))
    pod = msi.user_assigned_identities.create_or_update(
        "vmsstest-mrg", "pod-identity", {"location": "westus"}
    )
    elsewhere = msi.user_assigned_identities.create_or_update(
        "vmsstest-app", "foreign", {"location": "westus"}
    )
    as_app = list_tokens(sandbox, publisher, customer["application_id"], sub)
    compute = make(ComputeManagementClient, sandbox, as_app, sub)
    node_rg = customer["node_resource_group_id"].rsplit("/", 1)[-1]
    vmss = next(iter(compute.virtual_machine_scale_sets.list(node_rg)))
    return {
        "customer": customer,
        "publisher": publisher,
        "compute": compute,
        "node_rg": node_rg,
        "vmss": vmss.name,
        "pod": pod.id,
        "foreign": elsewhere.id,
        "kubelet": customer["kubelet_identity_id"],
        "msi": msi,
    }


def _identities(env: dict[str, Any]) -> set[str]:
    vmss = env["compute"].virtual_machine_scale_sets.get(env["node_rg"], env["vmss"])
    return {i.lower() for i in (vmss.identity.user_assigned_identities or {})}


def _patch(env: dict[str, Any], ids: list[str], id_type: str = "UserAssigned", compute: Any = None) -> Any:
    client = compute or env["compute"]
    body = {"identity": {"type": id_type, "userAssignedIdentities": {i: {} for i in ids}}}
    return client.virtual_machine_scale_sets.begin_update(env["node_rg"], env["vmss"], body)


def _error(fn: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as err:
        fn()
    return err.value


def test_attach_keeps_kubelet_and_validates(sandbox: Any, env: dict[str, Any]) -> None:
    result = _patch(env, [env["kubelet"], env["pod"]]).result()
    assert result.provisioning_state == "Succeeded"
    assert _identities(env) == {env["kubelet"].lower(), env["pod"].lower()}
    noop = _error(lambda: _patch(env, [env["kubelet"], env["pod"]]))
    assert noop.status_code == 400 and noop.error.code == "InvalidParameter"
    unknown = _error(lambda: _patch(env, [env["kubelet"], env["pod"] + "-missing"]))
    assert unknown.status_code == 400 and unknown.error.code == "FailedIdentityOperation"
    bad_type = _error(lambda: _patch(env, [env["kubelet"]], id_type="Sometimes"))
    assert bad_type.status_code == 400 and bad_type.error.code == "InvalidParameter"


def test_linked_authorization_on_the_identity(sandbox: Any, env: dict[str, Any]) -> None:
    err = _error(lambda: _patch(env, [env["kubelet"], env["pod"], env["foreign"]]))
    assert err.status_code == 403 and err.error.code == "LinkedAuthorizationFailed"
    assert "userAssignedIdentities/assign/action" in err.error.message


def test_linked_authorization_fails_until_the_grant_propagates(sandbox: Any, env: dict[str, Any]) -> None:
    customer, msi = env["customer"], env["msi"]
    sub = customer["subscription_id"]
    late = msi.user_assigned_identities.create_or_update(
        customer["application_resource_group"], "granted-late", {"location": "westus"}
    )
    app_rg, app_name = customer["identity_id"].split("/")[4], customer["identity_id"].rsplit("/", 1)[-1]
    app_identity = msi.user_assigned_identities.get(app_rg, app_name)  # the caller of env["compute"]
    admin = sandbox.add_principal(
        tenant_id=customer["tenant_id"],
        display_name="vmsstest-admin",
        roles=[{"scope": customer["application_resource_group_id"], "role": "Owner"}],
    )
    admin_cred = credential(sandbox, customer["tenant_id"], admin["client_id"], admin["secret"])
    auth = AuthorizationManagementClient(admin_cred, sub, **client_kwargs(sandbox))
    attach = lambda: _patch(env, [env["kubelet"], env["pod"], late.id])  # noqa: E731
    sandbox.set_timing(role_propagation_s=2.0)
    try:
        auth.role_assignments.create(
            late.id,
            guid(),
            {
                "properties": {
                    "roleDefinitionId": role_definition_id(sub, MANAGED_IDENTITY_OPERATOR),
                    "principalId": app_identity.principal_id,
                    "principalType": "ServicePrincipal",
                }
            },
        )
        err = _error(attach)
        assert err.status_code == 403 and err.error.code == "LinkedAuthorizationFailed"
        assert late.id in err.error.message
        assert eventually(attach).result().provisioning_state == "Succeeded"
    finally:
        sandbox.reset_timing()
    assert late.id.lower() in _identities(env)
    _patch(env, [env["kubelet"], env["pod"]]).result()  # as the earlier tests left it


def test_publisher_cannot_write_the_node_resource_group(sandbox: Any, env: dict[str, Any]) -> None:
    compute = make(ComputeManagementClient, sandbox, env["publisher"], env["customer"]["subscription_id"])
    err = _error(lambda: _patch(env, [env["kubelet"], env["pod"]], compute=compute))
    assert err.status_code == 403 and err.error.code == "AuthorizationFailed"


def test_concurrent_patch_conflicts(sandbox: Any, env: dict[str, Any]) -> None:
    sandbox.set_timing(vmss_update_s=2.0)
    try:
        poller = _patch(env, [env["kubelet"]])
        during = env["compute"].virtual_machine_scale_sets.get(env["node_rg"], env["vmss"])
        assert during.provisioning_state == "Updating"
        err = _error(lambda: _patch(env, [env["kubelet"], env["pod"]]))
        assert err.status_code == 409 and err.error.code == "OperationNotAllowed"
        poller.result()
    finally:
        sandbox.reset_timing()
    assert _identities(env) == {env["kubelet"].lower()}


def test_lockdown_denies_writes(sandbox: Any, env: dict[str, Any]) -> None:
    sandbox.lockdown(env["customer"]["node_resource_group_id"], True)
    try:
        err = _error(lambda: _patch(env, [env["kubelet"], env["pod"]]))
        assert err.status_code == 403 and err.error.code == "DenyAssignmentAuthorizationFailed"
        assert "lockdown" in err.error.message
    finally:
        sandbox.lockdown(env["customer"]["node_resource_group_id"], False)


def test_upgrade_drops_identities_aks_did_not_add(sandbox: Any, env: dict[str, Any]) -> None:
    _patch(env, [env["kubelet"], env["pod"]]).result()
    dropped = sandbox.upgrade_cluster(env["customer"]["cluster_id"])["dropped"]
    assert [i.lower() for ids in dropped.values() for i in ids] == [env["pod"].lower()]
    assert _identities(env) == {env["kubelet"].lower()}
