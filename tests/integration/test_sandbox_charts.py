"""The sandbox chart repository, read by real helm through pyhelm3: the upstream aad-pod-identity package
(when ``../shared`` has it) and the stand-in chart, packaged and indexed with and without helm."""

from __future__ import annotations

import asyncio
import io
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyhelm3
import pytest
import yaml

from sandbox.charts import ChartRepo
from sandbox.charts.source import SHARED_CHARTS, STANDIN_CHART, chart_source, find_helm
from sandbox.profiles import timing_for
from sandbox.state import World

pytestmark = pytest.mark.integration

HELM = find_helm()
needs_helm = pytest.mark.skipif(HELM is None, reason="helm not installed (make install)")
needs_shared = pytest.mark.skipif(not any(SHARED_CHARTS.glob("*.tgz")), reason="no ../shared chart package")
IDENTITY_VALUES: dict[str, Any] = {
    "azureIdentities": {
        "probe-identity": {
            "type": 0,
            "resourceID": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/probe",
            "clientID": "00000000-0000-0000-0000-00000000c1d0",
            "binding": {"name": "probe-identity-binding", "selector": "probe"},
        }
    }
}


def helm() -> pyhelm3.Client:
    assert HELM is not None
    return pyhelm3.Client(executable=HELM)


def start_repo(tmp_path: Path, source: str, *, with_helm: bool = True) -> ChartRepo:
    repo = ChartRepo(World(timing_for("fast")), tmp_path, source=source)
    if not with_helm:
        repo.helm = None
    return repo.start()


@pytest.fixture(scope="module")
def standin_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepo]:
    repo = start_repo(tmp_path_factory.mktemp("standin"), "standin")
    yield repo
    repo.stop()


def render(repo: ChartRepo, *values: dict[str, Any], include_crds: bool = False) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        chart = await helm().get_chart("aad-pod-identity", repo=repo.url, version="4.1.18")
        found = await helm().template_resources(
            chart, "aad-pod-identity", *values, namespace="kube-system", include_crds=include_crds
        )
        return list(found)

    return asyncio.run(go())


def by_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r and r.get("kind") == kind]


def test_source_choice() -> None:
    assert chart_source({"SANDBOX_CHART_SOURCE": "standin"}) == "standin"
    assert chart_source({"SANDBOX_CHART_SOURCE": "shared"}) == "shared"
    assert chart_source({}) == ("shared" if any(SHARED_CHARTS.glob("*.tgz")) else "standin")
    with pytest.raises(ValueError):
        chart_source({"SANDBOX_CHART_SOURCE": "elsewhere"})


@needs_helm
@needs_shared
def test_upstream_package_is_served(tmp_path: Path) -> None:
    repo = start_repo(tmp_path, "shared")
    try:
        chart = asyncio.run(helm().get_chart("aad-pod-identity", repo=repo.url, version="4.1.18"))
        assert (chart.metadata.name, chart.metadata.version, chart.metadata.app_version) == (
            "aad-pod-identity",
            "4.1.18",
            "1.8.17",
        )
        index = yaml.safe_load(urllib.request.urlopen(f"{repo.url}/index.yaml", timeout=10).read())
        entry = index["entries"]["aad-pod-identity"][0]
        assert entry["urls"] == [f"{repo.url}/aad-pod-identity-4.1.18.tgz"]
        assert "sandbox.stand-in" not in (entry.get("annotations") or {})
    finally:
        repo.stop()


@needs_helm
def test_standin_chart_metadata(standin_repo: ChartRepo) -> None:
    chart = asyncio.run(helm().get_chart("aad-pod-identity", repo=standin_repo.url, version="4.1.18"))
    assert (chart.metadata.name, chart.metadata.version, chart.metadata.app_version) == (
        "aad-pod-identity",
        "4.1.18",
        "1.8.17",
    )


@needs_helm
def test_standin_standard_mode(standin_repo: ChartRepo) -> None:
    resources = render(standin_repo, IDENTITY_VALUES, include_crds=True)
    crds = {c["spec"]["names"]["kind"]: c for c in by_kind(resources, "CustomResourceDefinition")}
    assert set(crds) == {
        "AzureIdentity",
        "AzureIdentityBinding",
        "AzureAssignedIdentity",
        "AzurePodIdentityException",
    }
    assert all(
        c["spec"]["group"] == "aadpodidentity.k8s.io" and c["spec"]["scope"] == "Namespaced"
        for c in crds.values()
    )
    assert all(c["spec"]["versions"][0]["name"] == "v1" for c in crds.values())
    [nmi] = by_kind(resources, "DaemonSet")
    assert nmi["metadata"]["name"] == "aad-pod-identity-nmi"
    args = nmi["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--operation-mode=standard" in args and "--forceNamespaced=false" in args
    assert not any(a.startswith("--allow-network-plugin-kubenet") for a in args)
    [mic] = by_kind(resources, "Deployment")
    assert mic["metadata"]["name"] == "aad-pod-identity-mic" and mic["spec"]["replicas"] == 2
    assert {sa["metadata"]["name"] for sa in by_kind(resources, "ServiceAccount")} == {
        "aad-pod-identity-mic",
        "aad-pod-identity-nmi",
    }
    [identity] = by_kind(resources, "AzureIdentity")
    assert identity["metadata"] == {
        **identity["metadata"],
        "name": "probe-identity",
        "namespace": "kube-system",
    }
    assert identity["spec"]["type"] == 0 and identity["spec"]["clientID"].endswith("c1d0")
    [binding] = by_kind(resources, "AzureIdentityBinding")
    assert binding["spec"] == {"azureIdentity": "probe-identity", "selector": "probe"}


@needs_helm
def test_standin_managed_mode_kubenet_no_secrets(standin_repo: ChartRepo) -> None:
    values = {
        "operationMode": "managed",
        "nmi": {"allowNetworkPluginKubenet": True},
        "rbac": {"allowAccessToSecrets": False},
    }
    resources = render(standin_repo, values)
    assert by_kind(resources, "Deployment") == []
    [nmi] = by_kind(resources, "DaemonSet")
    args = nmi["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {
        "--operation-mode=managed",
        "--forceNamespaced=true",
        "--allow-network-plugin-kubenet=true",
    } <= set(args)
    [role] = by_kind(resources, "ClusterRole")
    assert all("secrets" not in rule["resources"] for rule in role["rules"])
    assert by_kind(resources, "AzureIdentity") == []


@needs_helm
@needs_shared
def test_standin_values_mirror_upstream() -> None:
    """Every value the stand-in declares exists upstream with the same default."""
    with tarfile.open(next(SHARED_CHARTS.glob("*.tgz"))) as tgz:
        member = tgz.extractfile("aad-pod-identity/values.yaml")
        assert member is not None
        upstream = yaml.safe_load(io.BytesIO(member.read()))
    standin = yaml.safe_load((STANDIN_CHART / "values.yaml").read_text())

    def walk(ours: Any, theirs: Any, path: str) -> None:
        if isinstance(ours, dict) and ours:
            assert isinstance(theirs, dict), path
            for k, v in ours.items():
                assert k in theirs, f"{path}.{k} is not an upstream value"
                walk(v, theirs[k], f"{path}.{k}")
        elif path != ".azureIdentities":  # upstream leaves it null (all commented out)
            assert ours == theirs, path

    walk(standin, upstream, "")


@needs_helm
def test_index_and_package_without_helm(tmp_path: Path) -> None:
    repo = start_repo(tmp_path, "standin", with_helm=False)
    try:
        chart = asyncio.run(helm().get_chart("aad-pod-identity", repo=repo.url, version="4.1.18"))
        assert chart.metadata.app_version == "1.8.17"
        assert by_kind(render(repo, {"operationMode": "managed"}), "DaemonSet")
    finally:
        repo.stop()


def test_unknown_files_are_404(standin_repo: ChartRepo) -> None:
    for path in ("/nope.tgz", "/../state.json", "/charts"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(standin_repo.url + path, timeout=10)
        assert missing.value.code == 404
    assert urllib.request.urlopen(standin_repo.url + "/index.yaml", timeout=10).status == 200
