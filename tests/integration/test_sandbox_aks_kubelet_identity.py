"""AKS "bring your own kubelet identity" through the sandbox's ARM, as a customer's own deployment would make it:
a user-assigned control plane identity holding Managed Identity Operator over a user-assigned kubelet identity,
which AKS then puts on every node pool scale set (pools added later, after upgrades). And its cost: with workload
identity nothing stands between a pod and IMDS, so any pod gets the kubelet identity's token (NMI refuses it)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.storage import StorageManagementClient
from kubernetes import client
from kubernetes.config import new_client_from_config_dict

from sandbox.arm.containerservice import pool_suffix
from sandbox.authz import MANAGED_IDENTITY_OPERATOR, STORAGE_BLOB_DATA_READER
from sandbox.kube.cluster import cluster_guid
from sandbox.kube.kubelet import pod_imds_url

from .armkit import credential, eventually, guid, make
from .sandbox_kube_world import nmi_daemonset, wait_for

pytestmark = pytest.mark.integration

STORAGE = "https://storage.azure.com/"


class Customer:
    """A customer's subscription and an Owner of it (its own principal, as the customer deploying AKS)."""

    def __init__(self, box: Any) -> None:
        self.box = box
        found = box.add_customer(name="byokubelet")
        self.sub, self.rg = found["subscription_id"], found["application_resource_group"]
        self.location = found["location"]
        owner = box.add_principal(
            tenant_id=found["tenant_id"],
            display_name="byokubelet-owner",
            roles=[{"scope": f"/subscriptions/{self.sub}", "role": "Owner"}],
        )
        self.cred = credential(box, found["tenant_id"], owner["client_id"], owner["secret"])
        self.msi = make(ManagedServiceIdentityClient, box, self.cred, self.sub)
        self.auth = make(AuthorizationManagementClient, box, self.cred, self.sub)
        self.aks = make(ContainerServiceClient, box, self.cred, self.sub)
        self.compute = make(ComputeManagementClient, box, self.cred, self.sub)
        self.storage = make(StorageManagementClient, box, self.cred, self.sub)

    def identity(self, name: str) -> Any:
        return self.msi.user_assigned_identities.create_or_update(self.rg, name, {"location": self.location})

    def grant(self, principal_id: str, role: str, scope: str) -> None:
        self.auth.role_assignments.create(
            scope,
            guid(),
            {
                "role_definition_id": f"/subscriptions/{self.sub}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{role}",
                "principal_id": principal_id,
                "principal_type": "ServicePrincipal",
            },
        )

    def create_cluster(self, name: str, control_plane: Any, kubelet: Any, *, workload: bool = False) -> Any:
        body: dict[str, Any] = {
            "location": self.location,
            "properties": {
                "dnsPrefix": name,
                "agentPoolProfiles": [{"name": "nodepool1", "count": 1, "mode": "System"}],
                "oidcIssuerProfile": {"enabled": workload},
                "securityProfile": {"workloadIdentity": {"enabled": workload}},
                "identityProfile": {"kubeletidentity": {"resourceId": kubelet.id}},
            },
        }
        if control_plane is not None:
            body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {control_plane.id: {}}}
        return self.aks.managed_clusters.begin_create_or_update(self.rg, name, body).result()

    def scale_set_identities(self, cluster: Any) -> dict[str, list[str]]:
        return {
            s.name: sorted((s.identity.user_assigned_identities or {}).keys())
            for s in self.compute.virtual_machine_scale_sets.list(cluster.node_resource_group)
        }


@pytest.fixture(scope="module")
def customer(sandbox: Any) -> Customer:
    return Customer(sandbox)


@pytest.fixture(scope="module")
def byo(customer: Customer) -> dict[str, Any]:
    """A workload identity cluster whose kubelet identity is the customer's ``app`` identity."""
    control_plane, app = customer.identity("byo-control-plane"), customer.identity("app")
    customer.grant(control_plane.principal_id, MANAGED_IDENTITY_OPERATOR, app.id)
    cluster = eventually(lambda: customer.create_cluster("byo", control_plane, app, workload=True))
    return {"cluster": cluster, "app": app, "control_plane": control_plane}


def error_code(call: Any) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as raised:
        call()
    return raised.value.status_code, str(raised.value.error.code if raised.value.error else "")


def test_kubelet_identity_needs_a_user_assigned_control_plane(customer: Customer) -> None:
    kubelet = customer.identity("lonely-kubelet")
    assert error_code(lambda: customer.create_cluster("sysassigned", None, kubelet)) == (
        400,
        "CustomKubeletIdentityOnlySupportedOnUserAssignedMSICluster",
    )


def test_control_plane_without_managed_identity_operator_is_refused(customer: Customer) -> None:
    control_plane, kubelet = customer.identity("cp-nogrant"), customer.identity("kubelet-nogrant")
    assert error_code(lambda: customer.create_cluster("nogrant", control_plane, kubelet)) == (
        400,
        "CustomKubeletIdentityMissingPermissionError",
    )
    assert not [
        c for c in customer.aks.managed_clusters.list_by_resource_group(customer.rg) if c.name == "nogrant"
    ]


def test_a_grant_counts_once_propagated(customer: Customer) -> None:
    control_plane, kubelet = customer.identity("cp-fresh"), customer.identity("kubelet-fresh")
    customer.box.set_timing(role_propagation_s=2.0)
    try:
        customer.grant(control_plane.principal_id, MANAGED_IDENTITY_OPERATOR, kubelet.id)
        assert error_code(lambda: customer.create_cluster("fresh", control_plane, kubelet)) == (
            400,
            "CustomKubeletIdentityMissingPermissionError",
        )
        time.sleep(2.0)
        cluster = customer.create_cluster("fresh", control_plane, kubelet)
    finally:
        customer.box.reset_timing()
    assert cluster.identity_profile["kubeletidentity"].resource_id == kubelet.id


def test_aks_puts_the_kubelet_identity_on_every_scale_set(customer: Customer, byo: dict[str, Any]) -> None:
    cluster, app, control_plane = byo["cluster"], byo["app"], byo["control_plane"]
    kubelet = cluster.identity_profile["kubeletidentity"]
    assert (kubelet.resource_id, kubelet.client_id, kubelet.object_id) == (
        app.id,
        app.client_id,
        app.principal_id,
    )
    assert cluster.identity.type == "UserAssigned"
    assert list(cluster.identity.user_assigned_identities) == [control_plane.id]
    assert customer.scale_set_identities(cluster) == {
        f"aks-nodepool1-{pool_suffix(cluster.id)}-vmss": [app.id]
    }
    assert not list(customer.msi.user_assigned_identities.list_by_resource_group(cluster.node_resource_group))

    customer.aks.agent_pools.begin_create_or_update(customer.rg, "byo", "later", {"count": 1}).result()
    assert customer.scale_set_identities(cluster)[f"aks-later-{pool_suffix(cluster.id)}-vmss"] == [app.id]
    assert customer.box.upgrade_cluster(cluster.id)["dropped"] == {}
    assert set(map(tuple, customer.scale_set_identities(cluster).values())) == {(app.id,)}


# --- the trade-off: the kubelet identity is every pod's identity at IMDS ---
def _kube(customer: Customer, tmp_path: Path) -> client.ApiClient:
    creds = customer.aks.managed_clusters.list_cluster_admin_credentials(customer.rg, "byo").kubeconfigs
    return new_client_from_config_dict(yaml.safe_load(creds[0].value), temp_file_path=str(tmp_path))


def _imds_token(url: str) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={STORAGE}",
        headers={"Metadata": "true"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, str(json.loads(answer.read())["access_token"])
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _read(url: str, token: str, ca: str) -> int:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "x-ms-version": "2021-06-08"}
    )
    try:
        with urllib.request.urlopen(
            request, context=ssl.create_default_context(cafile=ca), timeout=10
        ) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_with_workload_identity_any_pod_reads_the_kubelet_identitys_storage(
    sandbox: Any, customer: Customer, byo: dict[str, Any], tmp_path: Path
) -> None:
    cluster, app = byo["cluster"], byo["app"]
    account = customer.storage.storage_accounts.begin_create(
        customer.rg,
        "byodata",
        {"location": customer.location, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
    ).result()
    customer.grant(app.principal_id, STORAGE_BLOB_DATA_READER, account.id)
    core = client.CoreV1Api(_kube(customer, tmp_path))
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "nobody"},
            "spec": {"containers": [{"name": "c", "image": "mcr.microsoft.com/app"}]},
        },
    )
    pod = wait_for(
        lambda: (p := core.read_namespaced_pod("nobody", "default")).status.phase == "Running" and p
    )
    url = pod_imds_url(
        sandbox.env["SANDBOX_IMDS_URL"], cluster_guid(cluster.id), pod.spec.node_name, "default", "nobody"
    )
    blob = f"{account.primary_endpoints.dfs}data/folder1/t1.csv"

    status, token = _imds_token(url)
    assert (
        status == 200
    )  # no binding, no service account annotation, no client_id: the kubelet identity's token
    assert wait_for(lambda: _read(blob, token, sandbox.env["SANDBOX_CA_BUNDLE"]) == 200)

    client.AppsV1Api(core.api_client).create_namespaced_daemon_set(
        "kube-system", nmi_daemonset(["--operation-mode=managed"])
    )
    status, answer = _imds_token(url)
    assert status == 404 and "no AzureAssignedIdentity found for pod:default/nobody" in answer
