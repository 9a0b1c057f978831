"""Nodes from scale sets, Jobs whose pods run as local processes, logs, retries, deadlines, workload identity."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from kubernetes import client, watch

from tests.integration.sandbox_kube_world import KubeWorld, start_world, wait_for

pytestmark = pytest.mark.integration

PROBE = """import json, os, urllib.request
url = os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] + "/metadata/identity/oauth2/token"
url += "?api-version=2018-02-01&resource=https://storage.azure.com/"
with urllib.request.urlopen(urllib.request.Request(url, headers={"Metadata": "true"})) as resp:
    token = json.loads(resp.read())
print(json.dumps({"pod": os.environ["POD_NAME"], "node": os.environ["NODE_NAME"], "mode": os.environ["MODE"],
                  "token_type": token["token_type"], "client_id": token["client_id"]}))
"""

WI_PROBE = """import json, os
names = ["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"]
env = {n: os.environ.get(n) for n in names}
env["token"] = open(os.environ["AZURE_FEDERATED_TOKEN_FILE"]).read()
print(json.dumps(env))
"""


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeWorld]:
    world = start_world(tmp_path_factory.mktemp("kube-workloads"))
    world.add_cluster()
    world.add_pool("system", ["kubelet"], mode="System", count=1)
    world.add_pool("work", ["mi1"], count=2)
    yield world
    world.stop()


def job(
    name: str,
    command: list[str],
    *,
    configmap: str | None = None,
    backoff: int = 0,
    deadline: int | None = None,
    labels: dict[str, str] | None = None,
    sa: str = "default",
    node_selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": "python:3.11-slim",
        "command": command,
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
    }
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container], "serviceAccountName": sa}
    if configmap:
        container["volumeMounts"] = [{"name": "probe", "mountPath": "/probe"}]
        container["env"].append(
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": configmap, "key": "mode"}}}
        )
        spec["volumes"] = [{"name": "probe", "configMap": {"name": configmap}}]
    if node_selector:
        spec["nodeSelector"] = node_selector
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"backoffLimit": backoff, "template": {"metadata": {"labels": labels or {}}, "spec": spec}},
    }
    if deadline:
        body["spec"]["activeDeadlineSeconds"] = deadline
    return body


def finished(batch: client.BatchV1Api, name: str) -> Any:
    def check() -> Any:
        status = batch.read_namespaced_job(name, "default").status
        if status is None:  # the job controller has not written a status yet
            return None
        return status if any(c.status == "True" for c in status.conditions or []) else None

    return wait_for(check, timeout_s=30)


def pod_log(core: client.CoreV1Api, pod: str) -> str:
    # kubernetes 36 mangles logs when preloaded; read the raw response
    return core.read_namespaced_pod_log(pod, "default", _preload_content=False).data.decode()


def test_nodes_look_like_aks_and_a_watch_sees_a_new_pool(kw: KubeWorld) -> None:
    core = client.CoreV1Api(kw.api_client())
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert len(nodes) == 3
    system = core.list_node(label_selector="kubernetes.azure.com/mode=system").items
    assert [n.metadata.name for n in system] == [n for n in nodes if "-system-" in n]
    node = system[0]
    assert node.metadata.name.startswith("aks-system-") and node.metadata.name.endswith("-vmss000000")
    labels = node.metadata.labels
    assert labels["kubernetes.azure.com/agentpool"] == labels["agentpool"] == "system"
    assert labels["kubernetes.azure.com/role"] == "agent" and labels["kubernetes.io/os"] == "linux"
    assert labels["node.kubernetes.io/instance-type"] == "Standard_D2s_v3"
    assert node.spec.provider_id.startswith("azure:///subscriptions/") and node.spec.provider_id.endswith(
        "/virtualMachines/0"
    )
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"

    rv = core.list_node().metadata.resource_version
    seen: list[str] = []
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(core.list_node, resource_version=rv, timeout_seconds=10):
            seen.append(event["object"].metadata.name)
            if len(seen) == 2:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.2)
    kw.add_pool("extra", [], count=2)
    thread.join(15)
    assert len(seen) == 2 and all(n.startswith("aks-extra-") for n in seen)


def test_job_runs_a_configmap_script_that_calls_imds(kw: KubeWorld) -> None:
    api = kw.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "probe"}, "data": {"probe.py": PROBE, "mode": "node"}}
    )
    started = time.monotonic()
    batch.create_namespaced_job(
        "default",
        job("probe", ["python", "/probe/probe.py"], configmap="probe", node_selector={"agentpool": "work"}),
    )
    status = finished(batch, "probe")
    elapsed = time.monotonic() - started
    print(f"figure job_create_to_complete {elapsed:.2f} s")
    assert [c.type for c in status.conditions] == ["Complete"] and status.succeeded == 1
    pods = core.list_namespaced_pod("default", label_selector="job-name=probe").items
    assert len(pods) == 1 and pods[0].status.phase == "Succeeded"
    assert pods[0].metadata.owner_references[0].kind == "Job"
    assert pods[0].spec.node_name.startswith("aks-work-")
    terminated = pods[0].status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0 and terminated.reason == "Completed"
    out = json.loads(pod_log(core, pods[0].metadata.name).strip().splitlines()[-1])
    assert out == {
        "pod": pods[0].metadata.name,
        "node": pods[0].spec.node_name,
        "mode": "node",
        "token_type": "Bearer",
        "client_id": kw.identity("mi1").client_id,
    }
    assert (
        pod_log(core, pods[0].metadata.name)
        == core.read_namespaced_pod_log(
            pods[0].metadata.name, "default", container="main", tail_lines=1, _preload_content=False
        ).data.decode()
    )


def test_failing_job_retries_up_to_backoff_limit_then_fails(kw: KubeWorld) -> None:
    api = kw.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    script = "import sys; print('boom', file=sys.stderr); sys.exit(3)"
    batch.create_namespaced_job("default", job("fails", ["python3", "-c", script], backoff=1))
    status = finished(batch, "fails")
    assert status.conditions[0].type == "Failed" and status.conditions[0].reason == "BackoffLimitExceeded"
    assert status.failed == 2
    pods = core.list_namespaced_pod("default", label_selector="job-name=fails").items
    assert len(pods) == 2
    assert {p.status.container_statuses[0].state.terminated.exit_code for p in pods} == {3}
    assert "boom" in pod_log(core, pods[0].metadata.name)


def test_active_deadline_kills_the_pod(kw: KubeWorld) -> None:
    api = kw.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    batch.create_namespaced_job(
        "default", job("sleepy", ["python", "-c", "import time; time.sleep(60)"], deadline=1)
    )
    status = finished(batch, "sleepy")
    assert status.conditions[0].reason == "DeadlineExceeded"
    wait_for(lambda: not core.list_namespaced_pod("default", label_selector="job-name=sleepy").items)


def test_deleting_a_job_cascades_to_its_pods_only_when_asked(kw: KubeWorld) -> None:
    api = kw.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    for name in ("orphaned", "cascaded"):
        batch.create_namespaced_job("default", job(name, ["python", "-c", "print('hi')"]))
        finished(batch, name)
    batch.delete_namespaced_job("orphaned", "default")  # batch/v1 default: orphan
    batch.delete_namespaced_job("cascaded", "default", propagation_policy="Foreground")
    assert len(core.list_namespaced_pod("default", label_selector="job-name=orphaned").items) == 1
    assert core.list_namespaced_pod("default", label_selector="job-name=cascaded").items == []


def test_unschedulable_pod_stays_pending(kw: KubeWorld) -> None:
    core = client.CoreV1Api(kw.api_client())
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "nowhere"},
            "spec": {
                "nodeSelector": {"agentpool": "gpu"},
                "containers": [{"name": "c", "image": "python:3.11"}],
            },
        },
    )
    time.sleep(0.3)
    pod = core.read_namespaced_pod("nowhere", "default")
    assert pod.status.phase == "Pending" and pod.spec.node_name is None
    assert pod.status.conditions[0].reason == "Unschedulable"


def test_workload_identity_pod_gets_webhook_env_and_token_file(kw: KubeWorld) -> None:
    api = kw.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    mi = kw.identity("wi")
    core.create_namespaced_service_account(
        "default",
        {
            "metadata": {
                "name": "workload",
                "annotations": {"azure.workload.identity/client-id": mi.client_id},
            }
        },
    )
    batch.create_namespaced_job(
        "default",
        job("wi", ["python", "-c", WI_PROBE], sa="workload", labels={"azure.workload.identity/use": "true"}),
    )
    assert finished(batch, "wi").succeeded == 1
    pod = core.list_namespaced_pod("default", label_selector="job-name=wi").items[0]
    out = json.loads(pod_log(core, pod.metadata.name))
    assert out["AZURE_CLIENT_ID"] == mi.client_id and out["AZURE_TENANT_ID"] == mi.tenant_id
    assert out["AZURE_AUTHORITY_HOST"] == kw.world.urls["aad"]
    assert (
        out["AZURE_FEDERATED_TOKEN_FILE"] != "/var/run/secrets/azure/tokens/azure-identity-token"
    )  # rewritten
    claims = kw.world.signer.verify(out["token"], audience="api://AzureADTokenExchange")
    cluster = kw.world.get(kw.cluster_id)
    assert cluster is not None
    assert claims["iss"] == cluster["properties"]["oidcIssuerProfile"]["issuerURL"]
    assert claims["sub"] == "system:serviceaccount:default:workload"
    assert jwt.get_unverified_header(out["token"])["alg"] == "RS256"


def _wi_pod(name: str, sa: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"azure.workload.identity/use": "true"},
            "annotations": annotations or {},
        },
        "spec": {"serviceAccountName": sa, "containers": [{"name": "main", "image": "nginx:1.25"}]},
    }


def test_webhook_mutates_only_pods_created_while_the_cluster_has_workload_identity(kw: KubeWorld) -> None:
    """The webhook is a mutating admission on Pod CREATE, and runs only when the cluster's
    ``securityProfile.workloadIdentity.enabled``: a pod created before keeps its spec."""
    core = client.CoreV1Api(kw.api_client())
    mi = kw.identity("later")
    annotations = {"azure.workload.identity/client-id": mi.client_id}
    core.create_namespaced_service_account(
        "default", {"metadata": {"name": "later", "annotations": annotations}}
    )
    cluster = kw.world.get(kw.cluster_id)
    assert cluster is not None
    profile = cluster["properties"]["securityProfile"]["workloadIdentity"]
    profile["enabled"] = False
    try:
        core.create_namespaced_pod("default", _wi_pod("wi-off", "later"))
    finally:
        profile["enabled"] = True
    core.create_namespaced_pod("default", _wi_pod("wi-on", "later"))
    off = core.read_namespaced_pod("wi-off", "default")
    on = core.read_namespaced_pod("wi-on", "default")
    assert off.spec.containers[0].env is None and not off.spec.volumes
    env = {e.name: e.value for e in on.spec.containers[0].env}
    assert env == {
        "AZURE_CLIENT_ID": mi.client_id,
        "AZURE_TENANT_ID": kw.tenant_id,
        "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
        "AZURE_AUTHORITY_HOST": kw.world.urls["aad"],
    }
    [mount] = on.spec.containers[0].volume_mounts
    assert (mount.name, mount.mount_path, mount.read_only) == (
        "azure-identity-token",
        "/var/run/secrets/azure/tokens",
        True,
    )
    [volume] = [v for v in on.spec.volumes if v.name == "azure-identity-token"]
    token = volume.projected.sources[0].service_account_token
    assert (token.audience, token.expiration_seconds, token.path) == (
        "api://AzureADTokenExchange",
        3600,
        "azure-identity-token",
    )


def test_webhook_refuses_a_token_expiration_out_of_range(kw: KubeWorld) -> None:
    core = client.CoreV1Api(kw.api_client())
    core.create_namespaced_service_account("default", {"metadata": {"name": "short"}})
    expiry = {"azure.workload.identity/service-account-token-expiration": "60"}
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod("default", _wi_pod("wi-short", "short", expiry))
    assert err.value.status == 400
    assert "token expiration 60 not valid. Expected value to be between 3600 and 86400" in err.value.body


def test_pod_without_workload_identity_label_gets_no_token(kw: KubeWorld) -> None:
    api = kw.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    batch.create_namespaced_job("default", job("nowi", ["python", "-c", WI_PROBE], sa="workload"))
    status = finished(batch, "nowi")
    assert status.failed == 1  # AZURE_FEDERATED_TOKEN_FILE is not set
    pod = core.list_namespaced_pod("default", label_selector="job-name=nowi").items[0]
    assert "KeyError" in pod_log(core, pod.metadata.name)
