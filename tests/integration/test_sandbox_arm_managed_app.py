"""Managed application lifecycle against the sandbox ARM, through the real SDK clients."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import AgentPool
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config_dict

from sandbox.authz import MANAGED_IDENTITY_OPERATOR, OWNER, VIRTUAL_MACHINE_CONTRIBUTOR

from .armkit import (
    APP_API,
    SCOPES,
    client_kwargs,
    credential,
    deploy_app,
    eventually,
    list_tokens,
    make,
    outputs,
    send,
    wait_async_operation,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(sandbox: Any) -> dict[str, Any]:
    cred = credential(sandbox)
    customer = sandbox.add_customer(name="apptest")
    owner = f"/subscriptions/{customer['subscription_id']}/providers/Microsoft.Authorization/roleDefinitions/{OWNER}"
    app = deploy_app(
        sandbox,
        cred,
        customer,
        "ama1",
        nodeCount=2,
        identityNodeRoleDefinitionId=owner,
        enableWorkloadIdentity=True,
    )
    # The publisher authorization on the managed resource group takes effect after propagation.
    aks = make(ContainerServiceClient, sandbox, cred, customer["subscription_id"])
    eventually(lambda: aks.managed_clusters.get("ama1-mrg", "ama1-aks"))
    return {"cred": cred, "customer": customer, "app": app, "out": outputs(app)}


def test_deployment_outputs_and_resources(sandbox: Any, world: dict[str, Any]) -> None:
    out, sub = world["out"], world["customer"]["subscription_id"]
    assert out["aksName"] == "ama1-aks"
    assert out["nodeResourceGroup"] == "ama1-mrg-aks-rg"
    assert out["identityResourceId"].endswith("/userAssignedIdentities/ama1-aks-identity")
    assert world["app"]["identity"]["type"] == "UserAssigned"
    aks = make(ContainerServiceClient, sandbox, world["cred"], sub)
    cluster = aks.managed_clusters.get("ama1-mrg", "ama1-aks")
    assert cluster.node_resource_group == "ama1-mrg-aks-rg"
    assert cluster.network_profile.network_plugin == "kubenet"
    assert cluster.oidc_issuer_profile.enabled
    assert cluster.oidc_issuer_profile.issuer_url.startswith(sandbox.env["SANDBOX_AAD_URL"] + "/oidc/")
    kubelet = cluster.identity_profile["kubeletidentity"]
    assert kubelet.resource_id.endswith(
        "/ama1-mrg-aks-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ama1-aks-agentpool"
    )
    assert [p.name for p in cluster.agent_pool_profiles] == ["nodepool1"]
    assert [c.name for c in aks.managed_clusters.list_by_resource_group("ama1-mrg")] == ["ama1-aks"]
    msi = ManagedServiceIdentityClient(world["cred"], sub, **client_kwargs(sandbox))
    identity = msi.user_assigned_identities.get("ama1-mrg", "ama1-aks-identity")
    assert (
        identity.client_id == out["identityClientId"] and identity.principal_id == out["identityPrincipalId"]
    )
    storage = make(StorageManagementClient, sandbox, world["cred"], sub)
    account = storage.storage_accounts.get_properties("ama1-mrg", out["storageAccountName"])
    assert account.is_hns_enabled
    assert account.primary_endpoints.dfs == f"{sandbox.env['SANDBOX_STORAGE_URL']}/{account.name}/"
    assert [a.name for a in storage.storage_accounts.list_by_resource_group("ama1-mrg")] == [account.name]


def test_template_role_assignments(sandbox: Any, world: dict[str, Any]) -> None:
    out, sub = world["out"], world["customer"]["subscription_id"]
    as_identity = list_tokens(sandbox, world["cred"], world["app"]["id"], sub)
    auth = AuthorizationManagementClient(as_identity, sub, **client_kwargs(sandbox))
    node_rg = f"/subscriptions/{sub}/resourceGroups/{out['nodeResourceGroup']}"
    found = {
        (a.role_definition_id.rsplit("/", 1)[-1], a.principal_id, a.delegated_managed_identity_resource_id)
        for a in auth.role_assignments.list_for_scope(node_rg, filter="atScope()")
    }
    kubelet = (
        make(ContainerServiceClient, sandbox, world["cred"], sub)
        .managed_clusters.get("ama1-mrg", "ama1-aks")
        .identity_profile["kubeletidentity"]
    )
    assert (OWNER, out["identityPrincipalId"], out["identityResourceId"]) in found
    assert (MANAGED_IDENTITY_OPERATOR, kubelet.object_id, kubelet.resource_id) in found
    assert (VIRTUAL_MACHINE_CONTRIBUTOR, kubelet.object_id, kubelet.resource_id) in found
    as_publisher = AuthorizationManagementClient(world["cred"], sub, **client_kwargs(sandbox))
    publisher_owner = [
        a
        for a in as_publisher.role_assignments.list_for_resource_group(
            "ama1-mrg", filter="atScope()", tenant_id=world["customer"]["tenant_id"]
        )
        if a.role_definition_id.endswith(OWNER) and a.principal_type == "ServicePrincipal"
    ]
    assert len(publisher_owner) == 2  # the application's identity and the publisher authorization


def test_publisher_has_no_role_on_node_resource_group(sandbox: Any, world: dict[str, Any]) -> None:
    sub = world["customer"]["subscription_id"]
    compute = make(ComputeManagementClient, sandbox, world["cred"], sub)
    with pytest.raises(HttpResponseError) as err:
        list(compute.virtual_machine_scale_sets.list(world["out"]["nodeResourceGroup"]))
    assert err.value.status_code == 403 and err.value.error.code == "AuthorizationFailed"


def test_list_tokens_gives_the_identity_a_working_token(sandbox: Any, world: dict[str, Any]) -> None:
    sub, out = world["customer"]["subscription_id"], world["out"]
    token_cred = list_tokens(sandbox, world["cred"], world["app"]["id"], sub)
    compute = make(ComputeManagementClient, sandbox, token_cred, sub)
    scale_sets = list(compute.virtual_machine_scale_sets.list(out["nodeResourceGroup"]))
    assert len(scale_sets) == 1
    vmss = scale_sets[0]
    assert vmss.name.startswith("aks-nodepool1-") and vmss.name.endswith("-vmss") and len(vmss.name) == 27
    assert vmss.tags["aks-managed-poolName"] == "nodepool1" and vmss.sku.capacity == 2
    assert list(vmss.identity.user_assigned_identities) == [
        make(ContainerServiceClient, sandbox, world["cred"], sub)
        .managed_clusters.get("ama1-mrg", "ama1-aks")
        .identity_profile["kubeletidentity"]
        .resource_id
    ]
    claims = jwt.decode(token_cred.get_token().token, options={"verify_signature": False})
    assert claims["xms_mirid"] == out["identityResourceId"]
    assert claims["tid"] == world["customer"]["tenant_id"]


def test_list_tokens_only_for_the_publisher(sandbox: Any, world: dict[str, Any]) -> None:
    sub = world["customer"]["subscription_id"]
    other = sandbox.add_principal(
        display_name="customer-admin",
        roles=[{"scope": world["customer"]["application_resource_group_id"], "role": "Owner"}],
    )
    cred = credential(sandbox, client_id=other["client_id"], secret=other["secret"])
    resources = make(ResourceManagementClient, sandbox, cred, sub)
    with pytest.raises(HttpResponseError) as err:
        send(
            resources,
            "POST",
            f"{world['app']['id']}/listTokens?api-version={APP_API}",
            {"authorizationAudience": "https://management.azure.com/"},
        )
    assert err.value.status_code == 403 and err.value.error.code == "AuthorizationFailed"


def test_agent_pool_put_is_an_lro_and_conflicts_while_running(sandbox: Any, world: dict[str, Any]) -> None:
    sub = world["customer"]["subscription_id"]
    aks = make(ContainerServiceClient, sandbox, world["cred"], sub)
    sandbox.set_timing(agentpool_create_s=2.0)  # room for the conflicting PUT on a loaded machine
    try:
        poller = aks.agent_pools.begin_create_or_update(
            "ama1-mrg", "ama1-aks", "pool2", {"count": 1, "mode": "User"}
        )
        with pytest.raises(HttpResponseError) as err:
            aks.agent_pools.begin_create_or_update("ama1-mrg", "ama1-aks", "pool3", {"count": 1})
    finally:
        sandbox.reset_timing()
    assert err.value.status_code == 409 and err.value.error.code == "OperationNotAllowed"
    pool = poller.result()
    assert pool.provisioning_state == "Succeeded" and pool.mode == "User"
    assert sorted(p.name for p in aks.agent_pools.list("ama1-mrg", "ama1-aks")) == ["nodepool1", "pool2"]
    token_cred = list_tokens(sandbox, world["cred"], world["app"]["id"], sub)
    compute = make(ComputeManagementClient, sandbox, token_cred, sub)
    names = sorted(v.name for v in compute.virtual_machine_scale_sets.list(world["out"]["nodeResourceGroup"]))
    assert len(names) == 2 and names[1].startswith("aks-pool2-")
    assert names[0].split("-")[2] == names[1].split("-")[2]  # the cluster's 8 digits


def test_refresh_permissions_reapplies_authorizations_not_the_template(
    sandbox: Any, world: dict[str, Any]
) -> None:
    """refreshPermissions re-applies the publisher's authorizations; a template role assignment someone deleted
    stays deleted (it is not a redeployment)."""
    sub, out, tenant = world["customer"]["subscription_id"], world["out"], world["customer"]["tenant_id"]
    token_cred = list_tokens(sandbox, world["cred"], world["app"]["id"], sub)
    auth = AuthorizationManagementClient(token_cred, sub, **client_kwargs(sandbox))
    node_rg = f"/subscriptions/{sub}/resourceGroups/{out['nodeResourceGroup']}"
    mio = next(
        a
        for a in auth.role_assignments.list_for_scope(node_rg, filter="atScope()")
        if a.role_definition_id.endswith(MANAGED_IDENTITY_OPERATOR)
    )
    auth.role_assignments.delete(node_rg, mio.name)
    as_identity_owner = AuthorizationManagementClient(token_cred, sub, **client_kwargs(sandbox))
    mrg = f"/subscriptions/{sub}/resourceGroups/ama1-mrg"
    publisher_id = jwt.decode(world["cred"].get_token(*SCOPES).token, options={"verify_signature": False})[
        "oid"
    ]
    authorization = next(
        a
        for a in as_identity_owner.role_assignments.list_for_scope(mrg, filter="atScope()")
        if a.principal_id == publisher_id and a.role_definition_id.endswith(OWNER)
    )
    as_identity_owner.role_assignments.delete(mrg, authorization.name)
    resources = make(ResourceManagementClient, sandbox, world["cred"], sub)
    response = send(resources, "POST", f"{world['app']['id']}/refreshPermissions?api-version={APP_API}")
    assert response.status_code == 202 and "Azure-AsyncOperation" in response.headers
    assert wait_async_operation(resources, response) == "Succeeded"
    assert send(resources, "GET", response.headers["Location"]).status_code == 204
    assert not [
        a
        for a in auth.role_assignments.list_for_scope(node_rg, filter="atScope()")
        if a.role_definition_id.endswith(MANAGED_IDENTITY_OPERATOR)
    ]
    back = [
        a
        for a in as_identity_owner.role_assignments.list_for_scope(mrg, filter="atScope()", tenant_id=tenant)
        if a.principal_id == publisher_id and a.role_definition_id.endswith(OWNER)
    ]
    assert len(back) == 1
    aks = make(ContainerServiceClient, sandbox, world["cred"], sub)
    eventually(lambda: aks.managed_clusters.get("ama1-mrg", "ama1-aks"))  # the authorization propagates again


def _core(config: dict[str, Any], tmp_path: Path) -> client.CoreV1Api:
    """A Kubernetes client built from a kubeconfig as the SDK returned it."""
    return client.CoreV1Api(new_client_from_config_dict(config, temp_file_path=str(tmp_path)))


def _kubeconfig(aks: Any, admin: bool) -> dict[str, Any]:
    clusters = aks.managed_clusters
    listing = clusters.list_cluster_admin_credentials if admin else clusters.list_cluster_user_credentials
    credentials = listing("ama1-mrg", "ama1-aks").kubeconfigs
    assert [c.name for c in credentials] == ["clusterAdmin" if admin else "clusterUser"]
    return yaml.safe_load(credentials[0].value)


def test_cluster_credentials(sandbox: Any, world: dict[str, Any], tmp_path: Path) -> None:
    aks = make(ContainerServiceClient, sandbox, world["cred"], world["customer"]["subscription_id"])
    tokens = []
    for admin in (True, False):
        config = _kubeconfig(aks, admin)
        assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
        ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
        assert ca == Path(sandbox.env["SANDBOX_CA_BUNDLE"]).read_bytes()
        tokens.append(config["users"][0]["user"]["token"])
        namespaces = {n.metadata.name for n in _core(config, tmp_path).list_namespace().items}
        assert {"default", "kube-system"} <= namespaces
    assert tokens[0] != tokens[1]
    for user in ({}, {"token": "not-" + tokens[1]}):
        config["users"][0]["user"] = user
        with pytest.raises(ApiException) as err:
            _core(config, tmp_path).list_namespace()
        assert err.value.status == 401


def test_new_agent_pool_brings_its_nodes(sandbox: Any, world: dict[str, Any], tmp_path: Path) -> None:
    sub = world["customer"]["subscription_id"]
    aks = make(ContainerServiceClient, sandbox, world["cred"], sub)
    core = _core(_kubeconfig(aks, admin=True), tmp_path)
    before = core.list_node(label_selector="agentpool=pool4")
    assert before.items == []
    since = before.metadata.resource_version
    poller = aks.agent_pools.begin_create_or_update(
        "ama1-mrg", "ama1-aks", "pool4", AgentPool(count=2, mode="User")
    )
    nodes: dict[str, Any] = {}
    stream = watch.Watch()
    for event in stream.stream(
        core.list_node, label_selector="agentpool=pool4", resource_version=since, timeout_seconds=30
    ):
        assert event["type"] == "ADDED"
        nodes[event["object"].metadata.name] = event["object"]
        if len(nodes) == 2:
            stream.stop()
    assert poller.result().provisioning_state == "Succeeded"
    token_cred = list_tokens(sandbox, world["cred"], world["app"]["id"], sub)
    compute = make(ComputeManagementClient, sandbox, token_cred, sub)
    vmss = next(
        v
        for v in compute.virtual_machine_scale_sets.list(world["out"]["nodeResourceGroup"])
        if v.tags["aks-managed-poolName"] == "pool4"
    )
    assert len(nodes) == vmss.sku.capacity == 2
    for name, node in nodes.items():
        labels = node.metadata.labels
        assert labels["agentpool"] == labels["kubernetes.azure.com/agentpool"] == "pool4"
        assert labels["kubernetes.azure.com/mode"] == "user"
        assert node.spec.provider_id.lower().startswith(f"azure://{vmss.id.lower()}/virtualmachines/")
        assert name.startswith(vmss.name)  # AKS: the scale set's name and the instance id in base 36


def test_put_validation_and_marketplace_kind(sandbox: Any, world: dict[str, Any]) -> None:
    sub = world["customer"]["subscription_id"]
    resources = make(ResourceManagementClient, sandbox, world["cred"], sub)
    rg_id = world["customer"]["application_resource_group_id"]
    bad = {
        "location": "westus",
        "kind": "ServiceCatalog",
        "properties": {
            "applicationDefinitionId": "/subscriptions/x/resourceGroups/y/providers/"
            "Microsoft.Solutions/applicationDefinitions/none",
            "managedResourceGroupId": f"/subscriptions/{sub}/resourceGroups/z-mrg",
            "parameters": {"aksName": {"value": "z"}},
        },
    }
    with pytest.raises(HttpResponseError) as err:
        resources.resources.begin_create_or_update_by_id(
            f"{rg_id}/providers/Microsoft.Solutions/applications/z", bad, api_version=APP_API
        )
    assert err.value.status_code == 404 and err.value.error.code == "ApplicationDefinitionNotFound"
    market = {
        "location": "westus",
        "kind": "MarketPlace",
        "plan": {"name": "aks", "publisher": "p", "product": "ama-aks", "version": "1.0.0"},
        "properties": {
            "managedResourceGroupId": f"/subscriptions/{sub}/resourceGroups/mk-mrg",
            "parameters": {
                "aksName": {"value": "mk"},
                "nodeResourceGroup": {"value": "mk-nodes"},
                "assignKubeletRoles": {"value": False},
            },
        },
    }
    app_id = f"{rg_id}/providers/Microsoft.Solutions/applications/mk"
    app = resources.resources.begin_create_or_update_by_id(app_id, market, api_version=APP_API).result()
    assert app.properties["outputs"]["nodeResourceGroup"]["value"] == "mk-nodes"
    resources.resources.begin_delete_by_id(app_id, api_version=APP_API).result()
    ids = {r["id"].lower() for r in sandbox.state()["resources"]}
    assert f"/subscriptions/{sub}/resourcegroups/mk-mrg" not in ids
    assert f"/subscriptions/{sub}/resourcegroups/mk-nodes" not in ids
    with pytest.raises(HttpResponseError) as err:
        resources.resources.get_by_id(app_id, api_version=APP_API)
    assert err.value.status_code == 404
