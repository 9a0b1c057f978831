"""The per-cluster Kubernetes API against the official kubernetes client (in-process world, no ARM)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from sandbox.kube.protobuf import MAGIC, decode
from tests.integration.sandbox_kube_world import KubeWorld, start_world

pytestmark = pytest.mark.integration

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}

GADGETS = {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"}


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeWorld]:
    world = start_world(tmp_path_factory.mktemp("kube-api"))
    world.add_cluster()
    world.add_pool("nodepool1", ["mi1"], mode="System")
    yield world
    world.stop()


def test_requests_without_a_valid_token_get_401(kw: KubeWorld) -> None:
    for token in ("", "not-a-token"):
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(kw.api_client(token)).list_namespace()
        assert err.value.status == 401
        assert json.loads(err.value.body)["reason"] == "Unauthorized"
    assert client.CoreV1Api(kw.api_client(kw.cluster.user_token)).list_namespace().items


def test_discovery_and_builtin_namespaces(kw: KubeWorld) -> None:
    api = kw.api_client()
    assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch", "rbac.authorization.k8s.io", "apiextensions.k8s.io", "policy"} <= groups
    names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
    assert {"default", "kube-system"} <= names


def test_configmap_crud_and_errors(kw: KubeWorld) -> None:
    core = client.CoreV1Api(kw.api_client())
    created = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "crud", "labels": {"a": "1"}}, "data": {"k": "v"}}
    )
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "crud"}})
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "AlreadyExists"

    stale = core.read_namespaced_config_map("crud", "default")
    core.patch_namespaced_config_map("crud", "default", {"data": {"k": "v2"}})
    stale.data = {"k": "lost"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("crud", "default", stale)
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("crud", "default").data == {"k": "v2"}

    core.delete_namespaced_config_map("crud", "default")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("crud", "default")
    assert err.value.status == 404 and json.loads(err.value.body)["reason"] == "NotFound"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert err.value.status == 404


def test_patch_types(kw: KubeWorld) -> None:
    api = kw.api_client()
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(
        "default",
        {
            "metadata": {"name": "patchme"},
            "spec": {
                "selector": {"matchLabels": {"app": "p"}},
                "template": {
                    "metadata": {"labels": {"app": "p"}},
                    "spec": {
                        "containers": [
                            {"name": "c", "image": "nginx:1", "args": ["a"]},
                            {"name": "side", "image": "busybox"},
                        ]
                    },
                },
            },
        },
    )
    # strategic merge (the client's default for dict bodies): containers merge by name
    apps.patch_namespaced_deployment(
        "patchme",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}},
    )
    dep = apps.read_namespaced_deployment("patchme", "default")
    containers = {c.name: c for c in dep.spec.template.spec.containers}
    assert containers["c"].image == "nginx:2" and containers["c"].args == ["a"] and "side" in containers
    assert dep.metadata.generation == 2
    # json patch
    apps.patch_namespaced_deployment(
        "patchme", "default", [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    )
    assert apps.read_namespaced_deployment("patchme", "default").spec.replicas == 3
    # merge patch through the generic call
    api.call_api(
        "/apis/apps/v1/namespaces/default/deployments/patchme",
        "PATCH",
        body={"metadata": {"labels": {"m": "1"}}},
        header_params={"Content-Type": "application/merge-patch+json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    assert apps.read_namespaced_deployment("patchme", "default").metadata.labels == {"m": "1"}
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("missing", "default", {"spec": {}})
    assert err.value.status == 404


def test_crd_makes_custom_objects_live(kw: KubeWorld) -> None:
    api = kw.api_client()
    custom = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as err:
        custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert err.value.status == 404
    crd = client.ApiextensionsV1Api(api).create_custom_resource_definition(CRD)
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    custom.create_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "labels": {"tier": "gold"}},
            "spec": {"size": 1},
        },
    )
    custom.patch_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", "w1", {"spec": {"size": 2}}
    )
    got = custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1")
    assert got["spec"] == {"size": 2} and got["kind"] == "Widget"
    listed = custom.list_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", label_selector="tier in (gold)"
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
    resources = client.CustomObjectsApi(api).get_api_resources("example.com", "v1")
    assert "widgets" in [r.name for r in resources.resources]
    client.ApiextensionsV1Api(api).delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException):
        custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1")


def test_list_and_watch_with_label_and_field_selectors(kw: KubeWorld) -> None:
    core = client.CoreV1Api(kw.api_client())
    for name, tier in (("sel-a", "gold"), ("sel-b", "silver"), ("sel-c", "gold")):
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": {"tier": tier}}})
    gold = core.list_namespaced_config_map("default", label_selector="tier=gold")
    assert [c.metadata.name for c in gold.items] == ["sel-a", "sel-c"]
    assert [
        c.metadata.name
        for c in core.list_namespaced_config_map(
            "default", label_selector="tier=gold", field_selector="metadata.name!=sel-a"
        ).items
    ] == ["sel-c"]
    assert len(core.list_namespaced_config_map("default", label_selector="tier notin (gold),tier").items) == 1

    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(
            core.list_namespaced_config_map,
            "default",
            label_selector="tier=gold",
            resource_version=gold.metadata.resource_version,
            timeout_seconds=5,
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 2:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "sel-d", "labels": {"tier": "silver"}}}
    )
    core.create_namespaced_config_map("default", {"metadata": {"name": "sel-e", "labels": {"tier": "gold"}}})
    core.delete_namespaced_config_map("sel-a", "default")
    thread.join(10)
    assert seen == [("ADDED", "sel-e"), ("DELETED", "sel-a")]


def test_watch_from_an_expired_resource_version_gets_410(kw: KubeWorld) -> None:
    core = client.CoreV1Api(kw.api_client())
    store = kw.cluster.store
    store._history.clear()  # as if compaction happened
    core.create_namespaced_config_map("default", {"metadata": {"name": "after-compaction"}})
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version="1", timeout_seconds=1
            )
        )
    assert err.value.status == 410


def test_watch_ends_at_timeout_seconds(kw: KubeWorld) -> None:
    core = client.CoreV1Api(kw.api_client())
    events = list(watch.Watch().stream(core.list_namespace, timeout_seconds=1))
    assert {e["object"].metadata.name for e in events} >= {"default", "kube-system"}


def test_protobuf_secret_body_is_decoded() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    meta = field(1, b"rel") + field(3, b"default") + field(11, field(1, b"owner") + field(2, b"helm"))
    secret = (
        field(1, meta)
        + field(2, field(1, b"release") + field(2, b"\x00\x01"))
        + field(3, b"helm.sh/release.v1")
    )
    body = MAGIC + field(1, field(1, b"v1") + field(2, b"Secret")) + field(2, secret)
    obj = decode(body)
    assert obj["kind"] == "Secret" and obj["metadata"] == {
        "name": "rel",
        "namespace": "default",
        "labels": {"owner": "helm"},
    }
    assert obj["data"] == {"release": "AAE="} and obj["type"] == "helm.sh/release.v1"


def test_server_side_dry_run_stores_nothing(kw: KubeWorld) -> None:
    api = kw.api_client()
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "dry"}})
    would = core.create_namespaced_config_map(
        "dry", {"metadata": {"name": "ghost"}, "data": {"k": "v"}}, dry_run="All"
    )
    assert would.metadata.name == "ghost" and would.metadata.uid and not would.metadata.resource_version
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("ghost", "dry")
    assert err.value.status == 404
    crd = client.ApiextensionsV1Api(api).create_custom_resource_definition(
        {**CRD, "metadata": {"name": "gadgets.example.com"}, "spec": {**CRD["spec"], "names": GADGETS}},
        dry_run="All",
    )
    assert crd.metadata.name == "gadgets.example.com"
    with pytest.raises(ApiException) as err:
        client.CustomObjectsApi(api).list_namespaced_custom_object("example.com", "v1", "dry", "gadgets")
    assert err.value.status == 404  # a dry-run CRD makes no paths live

    real = core.create_namespaced_config_map("dry", {"metadata": {"name": "real"}, "data": {"k": "v"}})
    rv = real.metadata.resource_version
    with pytest.raises(ApiException) as err:  # dry run still validates
        core.create_namespaced_config_map("dry", {"metadata": {"name": "real"}}, dry_run="All")
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "AlreadyExists"
    real.data = {"k": "put"}
    put = core.replace_namespaced_config_map("real", "dry", real, dry_run="All")
    assert put.data == {"k": "put"} and put.metadata.resource_version == rv
    patched = core.patch_namespaced_config_map("real", "dry", {"data": {"k": "patch"}}, dry_run="All")
    assert patched.data == {"k": "patch"} and patched.metadata.resource_version == rv
    core.delete_namespaced_config_map("real", "dry", dry_run="All")
    core.delete_namespace("dry", dry_run="All")
    kept = core.read_namespaced_config_map("real", "dry")
    assert kept.data == {"k": "v"} and kept.metadata.resource_version == rv

    # No watch event for any of it: the first event after `rv` is this real change.
    core.patch_namespaced_config_map("real", "dry", {"data": {"k": "marker"}})
    w = watch.Watch()
    first = next(w.stream(core.list_namespaced_config_map, "dry", resource_version=rv, timeout_seconds=5))
    w.stop()
    assert (first["type"], first["object"].data) == ("MODIFIED", {"k": "marker"})

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("dry", {"metadata": {"name": "x"}}, dry_run="Some")
    status = json.loads(err.value.body)
    assert err.value.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["kind"] == "CreateOptions" and "dryRun: Unsupported value" in status["message"]


def test_kubectl_dry_run_server_stores_nothing(kw: KubeWorld) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kdry, namespace: default}\ndata: {a: '1'}\n"
    assert "(server dry run)" in kw.kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifest)
    assert "kdry" not in kw.kubectl("get", "cm", "-o", "name")
    kw.kubectl("apply", "-f", "-", stdin=manifest)
    changed = manifest.replace("'1'", "'2'")
    assert "(server dry run)" in kw.kubectl("apply", "--dry-run=server", "-f", "-", stdin=changed)
    kw.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", stdin=changed)
    assert "(server dry run)" in kw.kubectl("delete", "cm", "kdry", "--dry-run=server")
    assert kw.kubectl("get", "cm", "kdry", "-o", "jsonpath={.data.a}") == "1"
    kw.kubectl("delete", "cm", "kdry")


def test_unknown_paths_404(kw: KubeWorld) -> None:
    with pytest.raises(ApiException) as err:
        kw.api_client().call_api("/apis/nope.example.com/v1/things", "GET", auth_settings=["BearerToken"])
    assert err.value.status == 404
