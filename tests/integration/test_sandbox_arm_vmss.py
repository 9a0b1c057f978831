"""Scale set identity PATCH: merge semantics (as on Azure), LRO, validation, linked authorization, conflicts,
lockdown, upgrade drift, and the real ``az vmss identity assign``/``remove`` against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient

from sandbox.authz import MANAGED_IDENTITY_OPERATOR, OWNER, role_definition_id

from .armkit import client_kwargs, credential, eventually, guid, list_tokens, make, send
from .azcli import AzCli, trust_ca

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(sandbox: Any) -> dict[str, Any]:
    sub = guid()
    customer = sandbox.add_customer(
        name="vmsstest",
        subscription_id=sub,
        adopt={"aksName": "vk", "identityNodeRoleDefinitionId": role_definition_id(sub, OWNER)},
    )
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
        "resources": make(ResourceManagementClient, sandbox, as_app, sub),
    }


def _identities(env: dict[str, Any]) -> set[str]:
    vmss = env["compute"].virtual_machine_scale_sets.get(env["node_rg"], env["vmss"])
    return {i.lower() for i in (vmss.identity.user_assigned_identities or {})}


def _patch(env: dict[str, Any], ids: list[str], id_type: str = "UserAssigned", compute: Any = None) -> Any:
    """Add (or keep) ``ids``: the map is merged into what is attached."""
    return _patch_map(env, {i: {} for i in ids}, id_type, compute)


def _patch_map(
    env: dict[str, Any], identities: dict[str, Any] | None, id_type: str = "UserAssigned", compute: Any = None
) -> Any:
    client = compute or env["compute"]
    identity: dict[str, Any] = {"type": id_type}
    if identities is not None:
        identity["userAssignedIdentities"] = identities
    return client.virtual_machine_scale_sets.begin_update(env["node_rg"], env["vmss"], {"identity": identity})


def _error(fn: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as err:
        fn()
    return err.value


def test_attach_keeps_kubelet_and_validates(sandbox: Any, env: dict[str, Any]) -> None:
    result = _patch(env, [env["pod"]]).result()  # only the new one: the kubelet identity stays (merge)
    assert result.provisioning_state == "Succeeded"
    assert _identities(env) == {env["kubelet"].lower(), env["pod"].lower()}
    # Repeating what is attached (az vmss identity assign run again) is accepted and changes nothing.
    again = _patch(env, [env["kubelet"], env["pod"]]).result()
    assert again.provisioning_state == "Succeeded"
    assert _identities(env) == {env["kubelet"].lower(), env["pod"].lower()}
    unknown = _error(lambda: _patch(env, [env["pod"] + "-missing"]))
    assert unknown.status_code == 400 and unknown.error.code == "FailedIdentityOperation"
    bad_type = _error(lambda: _patch(env, [env["kubelet"]], id_type="Sometimes"))
    assert bad_type.status_code == 400 and bad_type.error.code == "InvalidParameter"


def test_null_removes_one_identity_and_type_changes(sandbox: Any, env: dict[str, Any]) -> None:
    _patch(env, [env["pod"]]).result()
    _patch_map(
        env, {env["pod"]: None}
    ).result()  # az vmss identity remove's body (test_vmss_explicit_msi.yaml)
    assert _identities(env) == {env["kubelet"].lower()}
    last = _error(lambda: _patch_map(env, {env["kubelet"]: None}))  # UserAssigned with nothing left
    assert last.status_code == 400 and last.error.code == "InvalidParameter"
    listed = _error(lambda: _patch_map(env, {env["pod"]: {}}, id_type="None"))
    assert listed.status_code == 400 and listed.error.code == "InvalidParameter"
    gone = _patch_map(env, None, id_type="None").result()  # the last one goes with the type
    assert gone.identity is None or not gone.identity.user_assigned_identities
    _patch(env, [env["kubelet"], env["pod"]]).result()
    assert _identities(env) == {env["kubelet"].lower(), env["pod"].lower()}
    vmss = env["compute"].virtual_machine_scale_sets.get(env["node_rg"], env["vmss"])
    assert vmss.identity.type == "UserAssigned"


def test_patch_answer_shows_the_new_identity_empty_while_updating(sandbox: Any, env: dict[str, Any]) -> None:
    _patch_map(env, {env["pod"]: None}).result()
    url = (
        f"/subscriptions/{env['customer']['subscription_id']}/resourceGroups/{env['node_rg']}/providers/"
        f"Microsoft.Compute/virtualMachineScaleSets/{env['vmss']}?api-version=2024-11-01"
    )
    body = {"identity": {"type": "UserAssigned", "userAssignedIdentities": {env["pod"]: {}}}}
    response = send(env["resources"], "PATCH", url, body)
    assert response.status_code == 200 and "Azure-AsyncOperation" in response.headers
    assert "Retry-After" not in response.headers  # Compute sends none (test_vmss_explicit_msi.yaml)
    answer = response.json()
    assert answer["properties"]["provisioningState"] == "Updating"
    assigned = {k.lower(): v for k, v in answer["identity"]["userAssignedIdentities"].items()}
    assert assigned[env["pod"].lower()] == {} and assigned[env["kubelet"].lower()]["principalId"]
    eventually(lambda: _assert_succeeded(env))


def _assert_succeeded(env: dict[str, Any]) -> None:
    vmss = env["compute"].virtual_machine_scale_sets.get(env["node_rg"], env["vmss"])
    assert vmss.provisioning_state == "Succeeded"


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
    _patch_map(env, {late.id: None}).result()  # as the earlier tests left it


def test_publisher_cannot_write_the_node_resource_group(sandbox: Any, env: dict[str, Any]) -> None:
    compute = make(ComputeManagementClient, sandbox, env["publisher"], env["customer"]["subscription_id"])
    err = _error(lambda: _patch(env, [env["kubelet"], env["pod"]], compute=compute))
    assert err.status_code == 403 and err.error.code == "AuthorizationFailed"


def test_concurrent_patch_conflicts(sandbox: Any, env: dict[str, Any]) -> None:
    _patch(env, [env["pod"]]).result()
    sandbox.set_timing(vmss_update_s=2.0)
    try:
        poller = _patch_map(env, {env["pod"]: None})
        during = env["compute"].virtual_machine_scale_sets.get(env["node_rg"], env["vmss"])
        assert during.provisioning_state == "Updating"
        err = _error(lambda: _patch(env, [env["pod"]]))
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


def test_az_vmss_identity_assign_again_and_remove(sandbox: Any, env: dict[str, Any], tmp_path: Path) -> None:
    """The real CLI as the application's identity (logged in through the node's IMDS, as the seed's bootstrap VM):
    ``assign`` of an attached identity re-sends it (accepted), ``remove`` sends it as null (merged)."""
    customer, app_identity = env["customer"], env["customer"]["identity_id"]
    _patch(env, [app_identity, env["pod"]]).result()
    trust_ca(Path(sandbox.env["SANDBOX_CA_BUNDLE"]))
    vmss_id = env["compute"].virtual_machine_scale_sets.get(env["node_rg"], env["vmss"]).id
    imds = f"{sandbox.env['SANDBOX_IMDS_URL']}/nodes/{vmss_id}"
    az = AzCli(tmp_path / "az", env={"AZURE_POD_IDENTITY_AUTHORITY_HOST": imds})
    az.use_sandbox_cloud(Path(sandbox.env["SANDBOX_AZURE_CLOUD_CONFIG"]))
    az.json("login", "--identity", "--resource-id", app_identity)
    where = ["-g", env["node_rg"], "-n", env["vmss"], "--subscription", customer["subscription_id"]]
    out = az.json("vmss", "identity", "assign", *where, "--identities", env["pod"])  # already attached
    assert env["pod"].lower() in {k.lower() for k in out["userAssignedIdentities"]}
    az.json("vmss", "identity", "remove", *where, "--identities", env["pod"])
    assert _identities(env) == {env["kubelet"].lower(), app_identity.lower()}
    _patch_map(env, {app_identity: None}).result()
    assert _identities(env) == {env["kubelet"].lower()}
