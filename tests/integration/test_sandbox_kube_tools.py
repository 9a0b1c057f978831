"""kubectl and real helm (through pyhelm3) against a sandbox cluster's Kubernetes API; helm installs
aad-pod-identity from the sandbox's chart repository (the ../shared package or the stand-in chart)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from pyhelm3 import Client

from sandbox.charts.source import find_helm
from tests.integration.sandbox_kube_world import KubeWorld, start_world

pytestmark = pytest.mark.integration

HELM = find_helm()

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
    world.add_pool("nodepool1", ["mi1"], mode="System")
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
