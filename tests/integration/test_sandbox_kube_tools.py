"""kubectl 1.32 (the one ``make install`` puts in .tools/bin) and real helm (through pyhelm3) against a sandbox
cluster's Kubernetes API; helm installs aad-pod-identity from the sandbox's chart repository (the ../shared package
or the stand-in chart). What a person types works too: ``kubectl get`` prints AKS's columns (server-side Table),
``kubectl run -i --rm`` and ``kubectl logs -f`` stream, the seed's alpine commands reach the node's IMDS."""

from __future__ import annotations

import asyncio
import io
import json
import re
import ssl
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from pyhelm3 import Client

from sandbox.charts.source import find_helm
from tests.integration.sandbox_kube_world import KubeWorld, start_world, wait_for

pytestmark = pytest.mark.integration

HELM = find_helm()
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed"

MANIFEST = """apiVersion: v1
kind: ConfigMap
metadata: {name: cm1, namespace: default, labels: {app: demo}}
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx, env: [{name: A, value: "1"}]}
"""


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeWorld]:
    world = start_world(tmp_path_factory.mktemp("kube-tools"))
    world.add_cluster()
    # as on AKS: the kubelet identity on the scale set, plus the identity the seed attaches
    world.add_pool("nodepool1", ["kubelet", "mi1"], mode="System")
    yield world
    world.stop()


def test_kubectl_get_apply_server_side_apply_delete(kw: KubeWorld) -> None:
    kubectl = kw.kubectl
    assert "aks-nodepool1-" in kubectl("get", "nodes", "-l", "kubernetes.azure.com/mode=system")
    assert "created" in kubectl("apply", "-f", "-", stdin=MANIFEST)
    kubectl(
        "apply",
        "-f",
        "-",
        stdin=MANIFEST.replace('a: "1"', 'a: "2"').replace("image: nginx", "image: nginx:2"),
    )
    assert kubectl("get", "cm", "cm1", "-o", "jsonpath={.data.a}") == "2"
    assert (
        kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
        == "nginx:2"
    )
    assert "serverside-applied" in kubectl(
        "apply", "--server-side", "-f", "-", stdin=MANIFEST.replace('"1"', '"3"')
    )
    assert kubectl("get", "cm", "-l", "app=demo", "-o", "jsonpath={.items[0].data.a}") == "3"
    assert "successfully rolled out" in kubectl("rollout", "status", "deploy/web", "--timeout=20s")
    assert "deleted" in kubectl("delete", "-f", "-", stdin=MANIFEST)
    assert "cm1" not in kubectl("get", "cm")


@pytest.mark.skipif(HELM is None, reason="helm not installed (make install)")
def test_helm_install_upgrade_status_list_uninstall_aad_pod_identity(
    kw: KubeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CACHE", "CONFIG", "DATA"):
        monkeypatch.setenv(f"HELM_{name}_HOME", str(tmp_path / name.lower()))
    helm = Client(executable=str(HELM), kubeconfig=kw.kubeconfig())
    charts = kw.chart_repo()
    values = {"operationMode": "managed", "nmi": {"allowNetworkPluginKubenet": True}}

    async def scenario() -> float:
        chart = await helm.get_chart("aad-pod-identity", repo=charts.url, version="4.1.18")
        assert (chart.metadata.version, chart.metadata.app_version) == ("4.1.18", "1.8.17")
        started = time.monotonic()
        first = await helm.install_or_upgrade_release(
            "aad-pod-identity", chart, values, namespace="kube-system", wait=True, timeout="60s"
        )
        install_s = time.monotonic() - started
        assert first.revision == 1
        second = await helm.install_or_upgrade_release(
            "aad-pod-identity",
            chart,
            {**values, "forceNamespaced": "true"},
            namespace="kube-system",
            wait=True,
            timeout="60s",
        )
        assert second.revision == 2
        current = await helm.get_current_revision("aad-pod-identity", namespace="kube-system")
        assert current.status.value == "deployed"
        assert (await current.values())["forceNamespaced"] == "true"
        assert [r.name for r in await helm.list_releases(all_namespaces=True)] == ["aad-pod-identity"]

        apps = client.AppsV1Api(kw.api_client())
        nmi = apps.read_namespaced_daemon_set("aad-pod-identity-nmi", "kube-system")
        assert nmi.status.number_ready == nmi.status.desired_number_scheduled == 2
        crds = client.ApiextensionsV1Api(kw.api_client()).list_custom_resource_definition().items
        assert "azureidentities.aadpodidentity.k8s.io" in {c.metadata.name for c in crds}

        await helm.uninstall_release("aad-pod-identity", namespace="kube-system", wait=True)
        assert list(await helm.list_releases(all_namespaces=True)) == []
        assert apps.list_namespaced_daemon_set("kube-system").items == []
        return install_s

    install_s = asyncio.run(scenario())
    print(f"figure helm_install_aad_pod_identity {install_s:.2f} s (chart: {charts.source})")


# --- what a person types (issue 13, item 4) ---
def columns(output: str) -> tuple[list[str], list[list[str]]]:
    """kubectl's table: the header's column names and each row's cells (split on runs of 2+ spaces)."""
    lines = [line for line in output.splitlines() if line.strip()]
    split = [re.split(r"\s{2,}", line.strip()) for line in lines]
    return split[0], split[1:]


def raw_table(kw: KubeWorld, path: str, include: str | None = None) -> dict[str, Any]:
    query = f"?includeObject={include}" if include else ""
    request = urllib.request.Request(
        kw.cluster.server_url + path + query,
        headers={
            "Authorization": f"Bearer {kw.cluster.admin_token}",
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        },
    )
    context = ssl.create_default_context(cafile=str(kw.certs.ca_bundle))
    with urllib.request.urlopen(request, context=context, timeout=10) as resp:
        table: dict[str, Any] = json.loads(resp.read())
    return table


def test_kubectl_get_nodes_prints_the_columns_aks_shows(kw: KubeWorld) -> None:
    header, rows = columns(kw.kubectl("get", "nodes"))
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows and all(r[0].startswith("aks-nodepool1-") for r in rows)
    # an AKS 1.30 node: Ready, no role label (<none>), the kubelet's version
    assert {(r[1], r[2], r[4]) for r in rows} == {("Ready", "<none>", "v1.30.6")}
    header, rows = columns(kw.kubectl("get", "nodes", "-o", "wide"))
    assert header == [
        "NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
        "KERNEL-VERSION", "CONTAINER-RUNTIME",
    ]  # fmt: skip
    assert rows[0][5].startswith("10.224.0.") and rows[0][6] == "<none>"
    assert rows[0][7:] == ["Ubuntu 22.04.5 LTS", "5.15.0-1074-azure", "containerd://1.7.23-1"]

    table = raw_table(kw, "/api/v1/nodes")
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    first = table["columnDefinitions"][0]
    assert (first["name"], first["type"], first["format"], first["priority"]) == ("Name", "string", "name", 0)
    assert [c["priority"] for c in table["columnDefinitions"]] == [0] * 5 + [1] * 5
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"  # includeObject defaults to Metadata
    assert raw_table(kw, "/api/v1/nodes", "Object")["rows"][0]["object"]["kind"] == "Node"
    assert "object" not in raw_table(kw, "/api/v1/nodes", "None")["rows"][0]


def test_kubectl_run_i_rm_runs_the_seeds_alpine_commands_against_the_node_imds(kw: KubeWorld) -> None:
    instance = (
        "apk add curl jq && curl -H Metadata:true -s --noproxy '*' "
        "'http://169.254.169.254/metadata/instance?api-version=2020-06-01' | jq -r .compute.vmScaleSetName"
    )
    system_identity = (
        "curl -H Metadata:true -s --noproxy '*' 'http://169.254.169.254/metadata/identity/oauth2/token"
        "?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F'"
    )
    started = time.monotonic()
    done = kw.run_kubectl(
        "run", "seed", "-i", "--rm", "--image=alpine", "--restart=Never", "--",
        "sh", "-c", f"{instance}; {system_identity}; echo",
    )  # fmt: skip
    run_s = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("OK: sandbox: nothing to install")
    assert lines[1] == kw.pools["nodepool1"].rsplit("/", 1)[-1]  # the pod's node's scale set
    # the seed: "Trying to get system assigned managed identity from the pod will fail" (two user-assigned here)
    assert json.loads(lines[2]) == {
        "error": "invalid_request",
        "error_description": "Multiple user assigned identities exist, please specify the clientId / "
        "resourceId of the identity in the token request",
    }
    assert 'pod "seed" deleted' in done.stdout
    gone = kw.run_kubectl("get", "pod", "seed")
    assert gone.returncode == 1 and 'pods "seed" not found' in gone.stderr
    print(f"figure kubectl_run_i_rm {run_s:.2f} s")


def test_kubectl_run_it_rm_takes_the_seeds_typed_commands_and_exits_with_the_shells_code(
    kw: KubeWorld,
) -> None:
    # the seed: `kubectl run --rm -it test --image=alpine`, then type `apk add curl jq` and the curl command;
    # without a terminal kubectl drops -t and feeds the shell what is typed
    typed = (
        "apk add curl jq\n"
        'curl -H Metadata:true -s --noproxy "*" '
        '"http://169.254.169.254/metadata/instance?api-version=2020-06-01" | jq -r .compute.vmSize\n'
        "exit 3\n"
    )
    done = kw.run_kubectl("run", "--rm", "-it", "test", "--image=alpine", "--restart=Never", stdin=typed)
    assert done.returncode == 3, done.stderr  # kubectl exits with the container's exit code
    assert done.stdout.splitlines()[:2] == [
        "OK: sandbox: nothing to install (add curl jq)",
        "Standard_D2s_v3",
    ]
    assert "Unable to use a TTY" in done.stderr
    assert "couldn't attach" not in done.stderr  # attached over WebSocket, no fallback to logs


def test_kubectl_logs_f_follows_until_the_container_ends(kw: KubeWorld) -> None:
    kw.kubectl(
        "run", "ticker", "--image=alpine", "--restart=Never", "--", "sh", "-c", "echo one; sleep 1; echo two"
    )
    wait_for(lambda: kw.kubectl("get", "pod", "ticker", "-o", "jsonpath={.status.phase}") != "Pending")
    started = time.monotonic()
    assert kw.kubectl("logs", "-f", "ticker") == "one\ntwo\n"
    assert time.monotonic() - started >= 0.5  # it waited for "two", then returned as the container ended
    header, rows = columns(kw.kubectl("get", "pods", "-o", "wide"))
    assert header == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES",
    ]  # fmt: skip
    [row] = [r for r in rows if r[0] == "ticker"]
    assert row[1:4] == ["0/1", "Completed", "0"] and row[6].startswith("aks-nodepool1-")
    assert row[7:] == ["<none>", "<none>"]
    # `kubectl get -w` asks for Tables in the watch too: one header, then rows as the pod changes
    watched = kw.run_kubectl("get", "pod", "ticker", "-w", "--request-timeout=1s").stdout
    assert columns(watched)[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    kw.kubectl("delete", "pod", "ticker")


def test_a_program_the_sandbox_cannot_run_fails_the_pod_with_a_clear_status(kw: KubeWorld) -> None:
    kw.kubectl("run", "nope", "--image=alpine", "--restart=Never", "--", "kubeadm", "version")
    state = wait_for(
        lambda: kw.kubectl(
            "get", "pod", "nope", "-o", "jsonpath={.status.containerStatuses[0].state.terminated}"
        )
    )
    terminated = json.loads(state)
    assert (terminated["reason"], terminated["exitCode"]) == ("StartError", 128)
    assert 'exec: "kubeadm": executable file not found in $PATH' in terminated["message"]
    assert "sandbox" in terminated["message"]
    _, rows = columns(kw.kubectl("get", "pod", "nope"))
    assert rows[0][2] == "StartError"
    failed = kw.run_kubectl(
        "run", "nope2", "-i", "--rm", "--image=busybox", "--restart=Never", "--", "apk", "add", "kubeadm"
    )
    assert failed.returncode == 1 and "kubeadm (sandbox: no such program on this machine)" in failed.stdout
    kw.kubectl("delete", "pod", "nope")


def test_kubectl_get_pod_identity_objects_prints_their_crd_columns(kw: KubeWorld) -> None:
    with tarfile.open(fileobj=io.BytesIO(kw.chart_package())) as tar:
        member = tar.extractfile("aad-pod-identity/crds/crd.yaml")
        assert member is not None
        kw.kubectl("apply", "-f", "-", stdin=member.read().decode())
    seed = (SEED / "podidentity-azureidentity.yaml").read_text()
    assert "created" in kw.kubectl("apply", "-f", "-", stdin=seed)
    header, rows = columns(kw.kubectl("get", "azureidentity"))
    assert header == ["NAME", "TYPE", "CLIENTID", "AGE"]  # the CRD's additionalPrinterColumns
    assert rows[0][:3] == ["avama2mi1", "0", "987c244a-0cf6-4735-a29e-c2e2fa645763"]
    assert re.fullmatch(r"\d+s", rows[0][3])  # a date column: kubectl shows the age
    header, rows = columns(kw.kubectl("get", "azureidentitybinding"))
    assert (header, rows[0][:3]) == (
        ["NAME", "AZUREIDENTITY", "SELECTOR", "AGE"],
        ["avama2mi1-binding", "avama2mi1", "avama2mi1"],
    )
    exception = {
        "apiVersion": "aadpodidentity.k8s.io/v1",
        "kind": "AzurePodIdentityException",
        "metadata": {"name": "mic-exception", "namespace": "default"},
        "spec": {"podLabels": {"app": "mic"}},
    }
    kw.kubectl("apply", "-f", "-", stdin=json.dumps(exception))
    header, rows = columns(kw.kubectl("get", "azurepodidentityexception"))
    assert (header, rows[0][0]) == (["NAME", "AGE"], "mic-exception")  # no printer columns: NAME AGE
    kw.kubectl("create", "configmap", "human", "--from-literal=a=1")  # kubectl sends it as protobuf
    assert kw.kubectl("get", "configmap", "human", "-o", "jsonpath={.data.a}") == "1"
    header, _ = columns(kw.kubectl("get", "configmaps", "-A"))
    assert header == ["NAMESPACE", "NAME", "AGE"]  # the generic table for kinds without a printer here


def test_a_pod_labelled_for_pod_identity_gets_its_identity_through_nmi(kw: KubeWorld) -> None:
    # the seed: `kubectl run --rm -it testpodidentity --image=alpine --labels="aadpodidbinding=avama2mi1"`, then
    # curl IMDS; here with an identity that is on the scale set (the seed's own id is not in this cluster)
    mi = kw.identity("mi1")
    objects = f"""apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentity
metadata: {{name: mi1, namespace: default}}
spec: {{type: 0, resourceID: {mi.resource_id}, clientID: {mi.client_id}}}
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentityBinding
metadata: {{name: mi1-binding, namespace: default}}
spec: {{azureIdentity: mi1, selector: mi1-pods}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: aad-pod-identity-nmi, namespace: kube-system}}
spec:
  selector: {{matchLabels: {{app: nmi}}}}
  template:
    metadata: {{labels: {{app: nmi}}}}
    spec:
      containers:
      - {{name: nmi, image: "mcr.microsoft.com/oss/azure/aad-pod-identity/nmi:v1.8.17", args: ["--node=$(NODE_NAME)"]}}
"""
    kw.kubectl("apply", "-f", "-", stdin=objects)
    token = (
        "curl -H Metadata:true -s --noproxy '*' 'http://169.254.169.254/metadata/identity/oauth2/token"
        "?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F'"
    )
    done = kw.run_kubectl(
        "run", "--rm", "-i", "testpodidentity", "--image=alpine", "--labels=aadpodidbinding=mi1-pods",
        "--restart=Never", "--", "sh", "-c", f"{token} | jq -r .client_id",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.splitlines()[0] == mi.client_id
    )  # NMI matched the label to the binding and its identity
    unbound = kw.run_kubectl(
        "run",
        "--rm",
        "-i",
        "unbound",
        "--image=alpine",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        f"{token}; echo",
    )
    assert "no AzureAssignedIdentity found for pod:default/unbound in assigned state" in unbound.stdout
    kw.kubectl("delete", "-f", "-", stdin=objects)
