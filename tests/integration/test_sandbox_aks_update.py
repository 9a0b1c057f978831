"""Enabling the OIDC issuer and workload identity on an existing AKS cluster, as AKS does it (managed cluster PUT
after a GET, an LRO), through ``azure-mgmt-containerservice``, the real Azure CLI (``az aks update``) and kubectl:
AKS's refusals, 409 while the update runs, an injected failed update, and the workload identity webhook mutating
only pods created after the update (docs/fidelity/aks-update.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import (
    ManagedCluster,
    ManagedClusterOIDCIssuerProfile,
    ManagedClusterSecurityProfile,
    ManagedClusterSecurityProfileWorkloadIdentity,
)
from azure.mgmt.msi import ManagedServiceIdentityClient

from sandbox.authz import OWNER, role_definition_id

from .armkit import credential, guid, list_tokens, make
from .azcli import AzCli, trust_ca
from .sandbox_kube_world import KUBECTL

pytestmark = pytest.mark.integration

WI_ENV = {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"}
# The fault rule that fails a cluster update (the LRO ends Failed, nothing changes on the cluster).
FAILED_UPDATE = {
    "operation": "managedcluster.update",
    "path": "/managedClusters/{cluster}$",
    "code": "ReconcileOIDCProfileError",
    "message": "Reconcile OIDC issuer profile failed (injected).",
    "count": 1,
}


def _customer(sandbox: Any, name: str) -> dict[str, Any]:
    """A customer whose cluster has neither the OIDC issuer nor workload identity, and a client acting in it."""
    sub = guid()
    customer = sandbox.add_customer(
        name=name,
        subscription_id=sub,
        adopt={"aksName": f"{name}-aks", "identityNodeRoleDefinitionId": role_definition_id(sub, OWNER)},
    )
    as_app = list_tokens(sandbox, credential(sandbox), customer["application_id"], sub)
    customer |= {
        "aks": make(ContainerServiceClient, sandbox, as_app, sub),
        "msi": make(ManagedServiceIdentityClient, sandbox, as_app, sub),
        "mrg": customer["managed_resource_group_id"].rsplit("/", 1)[-1],
        "cluster": customer["cluster_id"].rsplit("/", 1)[-1],
    }
    return customer


def _enable(cluster: ManagedCluster) -> ManagedCluster:
    cluster.oidc_issuer_profile = ManagedClusterOIDCIssuerProfile(enabled=True)
    cluster.security_profile = ManagedClusterSecurityProfile(
        workload_identity=ManagedClusterSecurityProfileWorkloadIdentity(enabled=True)
    )
    return cluster


def _error(call: Any) -> Any:
    with pytest.raises(HttpResponseError) as err:
        call()
    return err.value


def _put(customer: dict[str, Any], cluster: ManagedCluster) -> Any:
    return customer["aks"].managed_clusters.begin_create_or_update(
        customer["mrg"], customer["cluster"], cluster, polling_interval=0.05
    )


def _get(customer: dict[str, Any]) -> ManagedCluster:
    return customer["aks"].managed_clusters.get(customer["mrg"], customer["cluster"])


def _requests(sandbox: Any, since: int, cluster: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests_log(since) if r["path"].endswith(f"/managedClusters/{cluster}")]


def _mark(sandbox: Any) -> int:
    return int(sandbox.admin("GET", "/requests?since=1000000000")["next"])


def test_sdk_update_enables_the_oidc_issuer_and_workload_identity(sandbox: Any) -> None:
    customer = _customer(sandbox, "wisdk")
    before = _get(customer)
    assert not before.oidc_issuer_profile.enabled and before.oidc_issuer_profile.issuer_url is None
    assert not before.security_profile.workload_identity.enabled
    since = _mark(sandbox)
    before.tags = {"team": "platform"}
    sandbox.set_timing(cluster_update_s=1.0)
    try:
        poller = _put(customer, _enable(before))
        during = _get(customer)
    finally:
        sandbox.reset_timing()
    assert during.provisioning_state == "Updating"
    assert [p.provisioning_state for p in during.agent_pool_profiles] == ["Updating"]
    assert not during.oidc_issuer_profile.enabled  # applied when the operation succeeds
    after = poller.result()
    assert after.provisioning_state == "Succeeded" and after.tags == {"team": "platform"}
    assert after.oidc_issuer_profile.enabled and after.security_profile.workload_identity.enabled
    assert after.oidc_issuer_profile.issuer_url.startswith(sandbox.env["SANDBOX_AAD_URL"] + "/oidc/")
    assert [(p.name, p.count, p.provisioning_state) for p in after.agent_pool_profiles] == [
        (p.name, p.count, "Succeeded") for p in before.agent_pool_profiles
    ]
    assert after.node_resource_group == before.node_resource_group
    put = [(r["method"], r["kind"], r["status"]) for r in _requests(sandbox, since, customer["cluster"])]
    assert ("PUT", "write", 200) in put


def test_refusals_change_nothing(sandbox: Any) -> None:
    customer = _customer(sandbox, "wirefuse")
    only_workload = _get(customer)
    only_workload.security_profile = ManagedClusterSecurityProfile(
        workload_identity=ManagedClusterSecurityProfileWorkloadIdentity(enabled=True)
    )
    err = _error(lambda: _put(customer, only_workload))
    assert err.status_code == 400 and err.error.code == "InvalidParameter"
    moved = _get(customer)
    moved.location = "eastus2"
    err = _error(lambda: _put(customer, moved))
    assert err.status_code == 409 and err.error.code == "InvalidResourceLocation"
    for field, value in (("dns_prefix", "other"), ("node_resource_group", "MC_other")):
        changed = _get(customer)
        setattr(changed, field, value)
        err = _error(lambda changed=changed: _put(customer, changed))
        assert err.status_code == 400 and err.error.code == "PropertyChangeNotAllowed"
    _put(customer, _enable(_get(customer))).result()
    disabled = _get(customer)
    disabled.oidc_issuer_profile = ManagedClusterOIDCIssuerProfile(enabled=False)
    err = _error(lambda: _put(customer, disabled))
    assert err.status_code == 400 and err.error.code == "OIDCIssuerFeatureCannotBeDisabled"
    cluster = _get(customer)
    assert cluster.provisioning_state == "Succeeded" and cluster.oidc_issuer_profile.enabled


def test_a_second_write_during_the_update_gets_409(sandbox: Any) -> None:
    customer = _customer(sandbox, "wibusy")
    sandbox.set_timing(cluster_update_s=2.0)  # room for the conflicting PUT on a loaded machine
    try:
        poller = _put(customer, _enable(_get(customer)))
        err = _error(lambda: _put(customer, _get(customer)))
        pool = _error(
            lambda: customer["aks"].agent_pools.begin_create_or_update(
                customer["mrg"], customer["cluster"], "extra", {"count": 1}
            )
        )
    finally:
        sandbox.reset_timing()
    assert err.status_code == 409 and err.error.code == "OperationNotAllowed"
    assert "in progress update managed cluster operation" in err.error.message
    assert pool.status_code == 409 and pool.error.code == "OperationNotAllowed"
    assert poller.result().provisioning_state == "Succeeded"


def test_an_injected_failure_fails_the_update_and_changes_nothing(sandbox: Any) -> None:
    customer = _customer(sandbox, "wifail")
    sandbox.set_faults([FAILED_UPDATE | {"path": FAILED_UPDATE["path"].format(cluster=customer["cluster"])}])
    try:
        poller = _put(customer, _enable(_get(customer)))
        err = _error(poller.result)
    finally:
        sandbox.clear_faults()
    assert err.error.code == "ReconcileOIDCProfileError"
    cluster = _get(customer)
    assert cluster.provisioning_state == "Failed"
    assert not cluster.oidc_issuer_profile.enabled and cluster.oidc_issuer_profile.issuer_url is None
    assert not cluster.security_profile.workload_identity.enabled
    assert [p.provisioning_state for p in cluster.agent_pool_profiles] == ["Succeeded"]
    again = _put(customer, _enable(cluster)).result()  # a PUT after a failed operation reconciles
    assert again.provisioning_state == "Succeeded" and again.security_profile.workload_identity.enabled


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _kubeconfig(customer: dict[str, Any], tmp_path: Path) -> Path:
    creds = customer["aks"].managed_clusters.list_cluster_user_credentials(
        customer["mrg"], customer["cluster"]
    )
    path = tmp_path / "kubeconfig"
    path.write_bytes(bytes(creds.kubeconfigs[0].value))
    return path


def _pod(name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"azure.workload.identity/use": "true"}},
            "spec": {
                "serviceAccountName": "workload",
                "containers": [{"name": "main", "image": "mcr.microsoft.com/oss/nginx/nginx:1.25"}],
            },
        }
    )


def _env_names(pod: dict[str, Any]) -> set[str]:
    return {e["name"] for e in pod["spec"]["containers"][0].get("env") or []}


def test_az_aks_update_then_only_new_pods_get_the_token(sandbox: Any, tmp_path: Path) -> None:
    """``az aks update --enable-oidc-issuer --enable-workload-identity`` as the publisher; a pod created before
    keeps its spec, a pod created after shows the webhook's env, mount and projected token volume."""
    customer = _customer(sandbox, "wiaz")
    identity = customer["msi"].user_assigned_identities.create_or_update(
        customer["mrg"], "workload-id", {"location": "westus"}
    )
    kubeconfig = _kubeconfig(customer, tmp_path)
    account = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "workload",
                "annotations": {"azure.workload.identity/client-id": identity.client_id},
            },
        }
    )
    _kubectl(kubeconfig, "apply", "-f", "-", stdin=account)
    _kubectl(kubeconfig, "apply", "-f", "-", stdin=_pod("before"))

    trust_ca(Path(sandbox.env["SANDBOX_CA_BUNDLE"]))
    az = AzCli(tmp_path / "az")
    az.use_sandbox_cloud(Path(sandbox.env["SANDBOX_AZURE_CLOUD_CONFIG"]))
    az.run(
        "login",
        "--service-principal",
        "--username",
        sandbox.env["AZURE_CLIENT_ID"],
        "--password",
        sandbox.env["AZURE_CLIENT_SECRET"],
        "--tenant",
        sandbox.env["AZURE_TENANT_ID"],
    )
    az.run("account", "set", "--subscription", customer["subscription_id"])
    where = ["-g", customer["mrg"], "-n", customer["cluster"]]
    updated = az.json("aks", "update", *where, "--enable-oidc-issuer", "--enable-workload-identity")
    assert updated["provisioningState"] == "Succeeded"
    assert updated["securityProfile"]["workloadIdentity"]["enabled"] is True
    issuer = az.tsv("aks", "show", *where, "--query", "oidcIssuerProfile.issuerUrl")
    assert issuer.startswith(sandbox.env["SANDBOX_AAD_URL"] + "/oidc/")

    _kubectl(kubeconfig, "apply", "-f", "-", stdin=_pod("after"))
    before = yaml.safe_load(_kubectl(kubeconfig, "get", "pod", "before", "-o", "yaml"))
    after = yaml.safe_load(_kubectl(kubeconfig, "get", "pod", "after", "-o", "yaml"))
    assert _env_names(before) == set() and "volumes" not in before["spec"]
    container = after["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert set(env) == WI_ENV and env["AZURE_CLIENT_ID"] == identity.client_id
    assert env["AZURE_TENANT_ID"] == customer["tenant_id"]
    assert env["AZURE_FEDERATED_TOKEN_FILE"] == "/var/run/secrets/azure/tokens/azure-identity-token"
    assert container["volumeMounts"] == [
        {"name": "azure-identity-token", "mountPath": "/var/run/secrets/azure/tokens", "readOnly": True}
    ]
    [volume] = after["spec"]["volumes"]
    assert volume["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "path": "azure-identity-token",
                "expirationSeconds": 3600,
                "audience": "api://AzureADTokenExchange",
            }
        }
    ]
