"""IMDS for nodes (identities on the scale set, instance metadata) and pods (aad-pod-identity NMI rules)."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from sandbox.kube.kubelet import pod_imds_url
from tests.integration.sandbox_kube_world import KubeWorld, nmi_daemonset, start_world, wait_for

pytestmark = pytest.mark.integration

STORAGE = "https://storage.azure.com/"


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeWorld]:
    world = start_world(tmp_path_factory.mktemp("imds"))
    world.add_cluster()
    world.add_pool("single", ["mi1"], count=1)
    world.add_pool("multi", ["mi1", "mi2"], count=1)
    yield world
    world.stop()


def call(url: str, headers: dict[str, str] | None = None, **query: str) -> tuple[int, Any]:
    params = {"api-version": "2018-02-01", "resource": STORAGE, **query}
    request = urllib.request.Request(
        url + "/metadata/identity/oauth2/token?" + urllib.parse.urlencode(params),
        headers={"Metadata": "true"} if headers is None else headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        body = err.read().decode()
        try:
            return err.code, json.loads(body)
        except ValueError:
            return err.code, body


def claims(kw: KubeWorld, body: dict[str, Any]) -> dict[str, Any]:
    return kw.world.signer.verify(body["access_token"], audience=STORAGE)


def node_url(kw: KubeWorld, vmss_id: str) -> str:
    return f"{kw.world.urls['imds']}/nodes/{urllib.parse.quote(vmss_id, safe='')}"


# --- node semantics ---
def test_node_token_for_the_only_attached_identity(kw: KubeWorld) -> None:
    status, body = call(node_url(kw, kw.pools["single"]))
    assert status == 200 and int(body["expires_in"]) > 0 and body["token_type"] == "Bearer"
    mi = kw.identity("mi1")
    got = claims(kw, body)
    assert (got["oid"], got["tid"], got["appid"], got["xms_mirid"]) == (
        mi.object_id,
        mi.tenant_id,
        mi.client_id,
        mi.resource_id,
    )


def test_node_by_name_and_identity_selectors(kw: KubeWorld) -> None:
    node = next(
        n.metadata.name
        for n in client.CoreV1Api(kw.api_client()).list_node().items
        if "-multi-" in n.metadata.name
    )
    url = f"{kw.world.urls['imds']}/nodes/{node}"
    mi2 = kw.identity("mi2")
    for query in (
        {"client_id": mi2.client_id},
        {"object_id": mi2.object_id},
        {"msi_res_id": mi2.resource_id or ""},
        {"mi_res_id": (mi2.resource_id or "").upper()},
    ):
        status, body = call(url, **query)
        assert status == 200, query
        assert claims(kw, body)["oid"] == mi2.object_id


def test_node_requires_metadata_header(kw: KubeWorld) -> None:
    status, body = call(node_url(kw, kw.pools["single"]), headers={})
    assert (
        status == 400
        and body["error"] == "invalid_request"
        and "metadata header" in body["error_description"]
    )


def test_node_with_several_identities_needs_a_choice(kw: KubeWorld) -> None:
    status, body = call(node_url(kw, kw.pools["multi"]))
    assert status == 400 and body["error_description"].startswith("Multiple user assigned identities exist")


def test_node_refuses_an_identity_not_on_its_scale_set(kw: KubeWorld) -> None:
    status, body = call(node_url(kw, kw.pools["single"]), client_id=kw.identity("mi2").client_id)
    assert status == 400 and body["error_description"] == "Identity not found"


# --- instance metadata (MicrosoftDocs/azure-docs articles/virtual-machines/instance-metadata-service.md) ---
def instance(url: str, headers: dict[str, str] | None = None, **query: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url + "/metadata/instance?" + urllib.parse.urlencode(query),
        headers={"Metadata": "true"} if headers is None else headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def node_named(kw: KubeWorld, pool: str) -> Any:
    return next(
        n for n in client.CoreV1Api(kw.api_client()).list_node().items if f"-{pool}-" in n.metadata.name
    )


def strings_only(value: Any) -> bool:
    """ "In json responses, all primitives will be of type string"."""
    if isinstance(value, dict):
        return all(strings_only(v) for v in value.values())
    if isinstance(value, list):
        return all(strings_only(v) for v in value)
    return isinstance(value, str)


def test_instance_metadata_of_a_scale_set_vm(kw: KubeWorld) -> None:
    node = node_named(kw, "multi")
    status, raw = instance(
        f"{kw.world.urls['imds']}/nodes/{node.metadata.name}", **{"api-version": "2020-06-01"}
    )
    assert status == 200
    body = json.loads(raw)
    compute, vmss_id = body["compute"], kw.pools["multi"]
    vmss_name = vmss_id.rsplit("/", 1)[-1]
    assert compute["vmScaleSetName"] == vmss_name and compute["name"] == f"{vmss_name}_0"
    assert compute["resourceId"] == f"{vmss_id}/virtualMachines/0"
    assert (compute["subscriptionId"], compute["resourceGroupName"]) == (
        kw.subscription_id,
        vmss_id.split("/")[4],
    )
    assert (compute["location"], compute["vmSize"], compute["osType"]) == (
        "eastus",
        "Standard_D2s_v3",
        "Linux",
    )
    internal_ip = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    [nic] = body["network"]["interface"]
    assert nic["ipv4"]["ipAddress"] == [{"privateIpAddress": internal_ip, "publicIpAddress": ""}]
    assert strings_only(body)
    # fields appear from the api-version that introduced them
    assert "isHostCompatibilityLayerVm" in compute and "securityProfile" in compute  # 2020-06-01
    assert not {"osProfile", "licenseType", "priority", "evictionPolicy"} & set(
        compute
    )  # 2020-07-15 and later
    _, later = instance(
        f"{kw.world.urls['imds']}/nodes/{node.metadata.name}", **{"api-version": "2021-02-01"}
    )
    assert {"osProfile", "licenseType", "priority"} <= set(json.loads(later)["compute"])
    assert json.loads(later)["compute"]["osProfile"]["computerName"] == node.metadata.name
    _, older = instance(
        f"{kw.world.urls['imds']}/nodes/{node.metadata.name}", **{"api-version": "2017-08-01"}
    )
    assert "vmScaleSetName" not in json.loads(older)["compute"]  # 2017-12-01


def test_instance_metadata_refuses_as_imds_does(kw: KubeWorld) -> None:
    url = f"{kw.world.urls['imds']}/nodes/{node_named(kw, 'single').metadata.name}"
    status, raw = instance(url, headers={}, **{"api-version": "2020-06-01"})
    assert (status, raw) == (400, b'{"error":"Bad request. Required metadata header not specified"}')
    status, raw = instance(url)
    assert status == 400 and json.loads(raw)["error"].startswith("Bad request. api-version was not specified")
    assert json.loads(raw)["newest-versions"]


# --- pods ---
def run_pod(
    kw: KubeWorld,
    name: str,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    pool: str = "single",
) -> str:
    core = client.CoreV1Api(kw.api_client())
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "nodeSelector": {"agentpool": pool},
                "containers": [{"name": "app", "image": "mcr.microsoft.com/app"}],
            },
        },
    )
    pod = wait_for(lambda: (p := core.read_namespaced_pod(name, namespace)).status.phase == "Running" and p)
    return pod_imds_url(kw.world.urls["imds"], kw.cluster.guid, pod.spec.node_name, namespace, name)


def test_pod_without_pod_identity_gets_node_semantics(kw: KubeWorld) -> None:
    status, body = call(run_pod(kw, "plain"))
    assert status == 200 and claims(kw, body)["oid"] == kw.identity("mi1").object_id


def test_pod_sees_its_nodes_instance_metadata(kw: KubeWorld) -> None:
    status, raw = instance(run_pod(kw, "curious", pool="multi"), **{"api-version": "2020-06-01"})
    assert (
        status == 200 and json.loads(raw)["compute"]["vmScaleSetName"] == kw.pools["multi"].rsplit("/", 1)[-1]
    )


def test_pod_url_for_the_wrong_node_is_refused(kw: KubeWorld) -> None:
    url = run_pod(kw, "elsewhere").replace("/nodes/aks-single-", "/nodes/aks-multi-")
    status, _ = call(url)
    assert status == 404


def install_pod_identity(kw: KubeWorld, managed: bool) -> None:
    """What the chart installs that NMI emulation reads: the CRDs (from the package the sandbox's chart
    repository serves) and the NMI DaemonSet."""
    api = kw.api_client()
    with tarfile.open(fileobj=io.BytesIO(kw.chart_package())) as tar:
        member = tar.extractfile("aad-pod-identity/crds/crd.yaml")
        assert member is not None
        crds = [d for d in yaml.safe_load_all(io.TextIOWrapper(member)) if d]
    ext = client.ApiextensionsV1Api(api)
    for crd in crds:
        ext.create_custom_resource_definition(crd)
    args = ["--node=$(NODE_NAME)", f"--operation-mode={'managed' if managed else 'standard'}"]
    client.AppsV1Api(api).create_namespaced_daemon_set(
        "kube-system", nmi_daemonset(args + (["--forceNamespaced"] if managed else []))
    )


def bind(kw: KubeWorld, namespace: str, name: str, identity: str, selector: str) -> None:
    custom = client.CustomObjectsApi(kw.api_client())
    mi = kw.identity(identity)
    custom.create_namespaced_custom_object(
        "aadpodidentity.k8s.io",
        "v1",
        namespace,
        "azureidentities",
        {
            "apiVersion": "aadpodidentity.k8s.io/v1",
            "kind": "AzureIdentity",
            "metadata": {"name": name},
            "spec": {"type": 0, "resourceID": mi.resource_id, "clientID": mi.client_id},
        },
    )
    custom.create_namespaced_custom_object(
        "aadpodidentity.k8s.io",
        "v1",
        namespace,
        "azureidentitybindings",
        {
            "apiVersion": "aadpodidentity.k8s.io/v1",
            "kind": "AzureIdentityBinding",
            "metadata": {"name": f"{name}-binding"},
            "spec": {"azureIdentity": name, "selector": selector},
        },
    )


@pytest.fixture(scope="module")
def nmi(kw: KubeWorld) -> KubeWorld:
    client.CoreV1Api(kw.api_client()).create_namespace({"metadata": {"name": "other"}})
    install_pod_identity(kw, managed=True)
    bind(kw, "default", "mi1", "mi1", "mi1")
    bind(kw, "default", "mi2", "mi2", "mi2")  # mi2 is not on the "single" pool's scale set
    bind(kw, "other", "other-mi1", "mi1", "cross")
    return kw


def test_nmi_answers_a_bound_pod(nmi: KubeWorld) -> None:
    status, body = call(run_pod(nmi, "bound", labels={"aadpodidbinding": "mi1"}))
    assert status == 200 and claims(nmi, body)["xms_mirid"] == nmi.identity("mi1").resource_id
    status, _ = call(
        run_pod(nmi, "bound-explicit", labels={"aadpodidbinding": "mi1"}),
        client_id=nmi.identity("mi1").client_id,
    )
    assert status == 200


def test_nmi_refuses_a_pod_without_binding(nmi: KubeWorld) -> None:
    status, body = call(run_pod(nmi, "unbound"))
    assert status == 404 and "no AzureAssignedIdentity found for pod:default/unbound" in body


def test_nmi_refuses_another_identity_than_the_bound_one(nmi: KubeWorld) -> None:
    status, body = call(
        run_pod(nmi, "greedy", labels={"aadpodidbinding": "mi1"}), client_id=nmi.identity("mi2").client_id
    )
    assert status == 403 and "no azure identity found for request clientID" in body


def test_nmi_refuses_a_bound_identity_missing_from_the_scale_set(nmi: KubeWorld) -> None:
    status, body = call(run_pod(nmi, "unattached", labels={"aadpodidbinding": "mi2"}))
    assert status == 403 and "failed to get service principal token for pod:default/unattached" in body
    assert "Identity not found" in body


def test_nmi_forced_namespaced_ignores_bindings_of_other_namespaces(nmi: KubeWorld) -> None:
    status, body = call(run_pod(nmi, "cross-ns", labels={"aadpodidbinding": "cross"}))
    assert status == 404 and "no AzureAssignedIdentity found" in body
    status, _ = call(run_pod(nmi, "same-ns", namespace="other", labels={"aadpodidbinding": "cross"}))
    assert status == 200


def test_nmi_exception_pods_get_node_semantics(nmi: KubeWorld) -> None:
    client.CustomObjectsApi(nmi.api_client()).create_namespaced_custom_object(
        "aadpodidentity.k8s.io",
        "v1",
        "default",
        "azurepodidentityexceptions",
        {
            "apiVersion": "aadpodidentity.k8s.io/v1",
            "kind": "AzurePodIdentityException",
            "metadata": {"name": "mic"},
            "spec": {"podLabels": {"app": "mic"}},
        },
    )
    status, body = call(run_pod(nmi, "mic-1", labels={"app": "mic"}))
    assert status == 200 and claims(nmi, body)["oid"] == nmi.identity("mi1").object_id
