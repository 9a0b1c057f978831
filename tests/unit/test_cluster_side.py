"""Pure parts of the cluster side: chart values, object matching, probe Job shape, kubeconfig file handling."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

from onboarding.cluster import IdentityRef
from onboarding.helm import chart_ref, chart_values
from onboarding.kube import pod_identity, workload_identity
from onboarding.kube.kubeconfig import kubeconfig_file, open_kubeconfig, split_cluster_id
from onboarding.kube.objects import _matches, _merged, is_subset, owned_by, ownership_labels
from onboarding.kube.probe_job import ProbeRequest, job_body, job_phase, parse_result, probe_source
from onboarding.models import ChartSource, PodIdentityMode
from onboarding.redact import redact
from onboarding.settings import Settings

from .clusters import probe_request

IDENTITY = IdentityRef(
    resource_id="/subscriptions/0/resourceGroups/mrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/App_Id1",
    name="App_Id1",
    client_id="cid",
    principal_id="pid",
)


def test_chart_values_follow_the_mode() -> None:
    chart = ChartSource()
    assert chart_values(chart, PodIdentityMode.AAD_POD_IDENTITY_MANAGED) == {
        "nmi": {"allowNetworkPluginKubenet": True},
        "operationMode": "managed",
        "forceNamespaced": "true",
    }
    standard = chart_values(
        chart.model_copy(update={"allow_kubenet": False}), PodIdentityMode.AAD_POD_IDENTITY_STANDARD
    )
    assert standard == {
        "nmi": {"allowNetworkPluginKubenet": False},
        "operationMode": "standard",
        "forceNamespaced": "false",
    }


def test_chart_reference() -> None:
    settings = Settings(default_chart_repository="http://127.0.0.1:1/charts")
    assert chart_ref(ChartSource(), settings) == ("aad-pod-identity", "http://127.0.0.1:1/charts")
    assert chart_ref(ChartSource(repository="https://mirror.example/charts"), settings)[1] == (
        "https://mirror.example/charts"
    )
    assert chart_ref(ChartSource(oci_reference="oci://reg.example/charts/aad-pod-identity"), settings) == (
        "oci://reg.example/charts/aad-pod-identity",
        None,
    )


def test_matching_ignores_server_fields_and_merge_keeps_resource_version() -> None:
    desired = pod_identity.azure_identity_body(IDENTITY, namespace="apps", customer="c1")
    assert desired["metadata"]["name"] == "app-id1" and desired["spec"]["type"] == 0
    current = {
        **desired,
        "metadata": {
            **desired["metadata"],
            "resourceVersion": "7",
            "uid": "u",
            "labels": {**ownership_labels("c1"), "extra": "x"},
        },
        "status": {"x": 1},
    }
    assert _matches(desired, current) and owned_by(current, "c1") and not owned_by(current, "c2")
    drifted = {**current, "spec": {**desired["spec"], "clientID": "other"}}
    assert not _matches(desired, drifted)
    merged = _merged(desired, drifted)
    assert merged["spec"]["clientID"] == "cid" and merged["metadata"]["resourceVersion"] == "7"
    assert merged["metadata"]["labels"]["extra"] == "x"
    assert is_subset({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) and not is_subset({"a": 1}, {})


def test_names_and_selectors() -> None:
    assert pod_identity.binding_name("App_Id1") == "app-id1-binding"
    assert pod_identity.default_selector("App_Id1") == "App_Id1"
    assert workload_identity.subject("ns", "sa") == "system:serviceaccount:ns:sa"
    assert (
        workload_identity.credential_name(customer="c1", namespace="ns", service_account="sa")
        == "ama-c1-ns-sa"
    )
    assert split_cluster_id(
        "/subscriptions/s/resourcegroups/mrg/providers/Microsoft.ContainerService/managedClusters/aks1"
    ) == ("mrg", "aks1")


def _request(**kw: object) -> ProbeRequest:
    return probe_request(resource_id=IDENTITY.resource_id, **kw)


def test_probe_job_shape() -> None:
    job = job_body("ama-storage-probe-x", _request(selector="app"), customer="c1")
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    pod = spec["template"]
    assert pod["metadata"]["labels"]["aadpodidbinding"] == "app"
    assert "serviceAccountName" not in pod["spec"]
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "/probe/probe.py"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["PROBE_FILESYSTEM"] == "data" and env["PROBE_CLIENT_ID"] == "cid"
    wi = job_body("j", _request(service_account="sa"), customer="c1")["spec"]["template"]
    assert wi["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert wi["spec"]["serviceAccountName"] == "sa" and "aadpodidbinding" not in wi["metadata"]["labels"]
    bare = job_body("j", _request(), customer="c1")["spec"]["template"]["metadata"]["labels"]
    assert "aadpodidbinding" not in bare
    assert "def main()" in probe_source()


def test_job_phase_and_result_parsing() -> None:
    assert job_phase({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == "Complete"
    assert job_phase({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}) == "Failed"
    assert job_phase({"status": {"active": 1}}) is None
    assert parse_result('noise\n{"ok": true, "stage": "done"}\n') == {"ok": True, "stage": "done"}
    assert parse_result("Traceback ...") is None


def test_kubeconfig_file_is_private_and_removed() -> None:
    with kubeconfig_file(b"apiVersion: v1\n") as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not path.exists()


def test_kubeconfig_token_is_registered_for_redaction() -> None:
    token = "kubeconfig-secret-token-value-123"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }
    with open_kubeconfig(yaml.safe_dump(config).encode(), customer="c1", step="s") as access:
        assert access.server == "https://127.0.0.1:6443" and access.kubeconfig_path.exists()
        path = access.kubeconfig_path
    assert not path.exists()
    assert token not in redact(f"failed with {token}")


def test_unusable_kubeconfig_is_permanent() -> None:
    from onboarding.errors import PermanentError

    with pytest.raises(PermanentError), open_kubeconfig(b"::: not yaml [", customer="c1", step="s"):
        pass
