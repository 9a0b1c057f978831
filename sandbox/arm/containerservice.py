"""Microsoft.ContainerService: managed clusters (GET, list, list credentials) and agent pools (GET, list, PUT)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from ..httpd import Response, json_response
from ..state import World, key
from .base import (
    RG,
    SUB,
    ArmError,
    ArmRouter,
    Call,
    paged,
    public,
    read_handlers,
    require,
    require_resource,
    require_write,
    resource_id_of,
    resources_of_type,
)
from .compute import VMSS_TYPE, vmss_body
from .lro import Operations

MC_TYPE = "Microsoft.ContainerService/managedClusters"
AP_TYPE = f"{MC_TYPE}/agentPools"
MC_READ = f"{MC_TYPE}/read"
KUBERNETES_VERSION = "1.30.5"
_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def pool_suffix(cluster_id: str) -> str:
    """AKS's 8 digits shared by all scale sets of a cluster (``aks-<pool>-<digits>-vmss``)."""
    return str(int(hashlib.sha256(key(cluster_id).encode()).hexdigest(), 16))[:8]


def pool_body(cluster_id: str, name: str, count: int, mode: str, vm_size: str, state: str) -> dict[str, Any]:
    return {
        "id": f"{cluster_id}/agentPools/{name}",
        "name": name,
        "type": AP_TYPE,
        "properties": {
            "count": count,
            "vmSize": vm_size,
            "osType": "Linux",
            "mode": mode,
            "type": "VirtualMachineScaleSets",
            "provisioningState": state,
            "orchestratorVersion": KUBERNETES_VERSION,
            "currentOrchestratorVersion": KUBERNETES_VERSION,
            "powerState": {"code": "Running"},
            "maxPods": 110,
            "osDiskSizeGB": 128,
        },
    }


def create_pool_vmss(world: World, cluster: dict[str, Any], pool: dict[str, Any]) -> dict[str, Any]:
    """The pool's scale set in the node resource group, carrying only the kubelet identity; returns the event."""
    props = cluster["properties"]
    node_rg = f"/subscriptions/{cluster['id'].split('/')[2]}/resourceGroups/{props['nodeResourceGroup']}"
    vmss_id = (
        f"{node_rg}/providers/Microsoft.Compute/virtualMachineScaleSets/"
        f"aks-{pool['name']}-{pool_suffix(cluster['id'])}-vmss"
    )
    count = int(pool["properties"]["count"])
    world.put(
        vmss_body(
            world,
            vmss_id,
            location=cluster["location"],
            pool=pool["name"],
            cluster_id=cluster["id"],
            instances=count,
            identity_ids=[props["identityProfile"]["kubeletidentity"]["resourceId"]],
            vm_size=pool["properties"]["vmSize"],
            tags={"aks-managed-poolName": pool["name"], "aks-managed-orchestrator": KUBERNETES_VERSION},
        )
    )
    return {
        "vmss_id": vmss_id,
        "cluster_id": cluster["id"],
        "pool": pool["name"],
        "mode": pool["properties"]["mode"],
        "count": count,
    }


def _scale_pool_vmss(world: World, cluster_id: str, pool: str, count: int) -> None:
    for vmss in resources_of_type(world, VMSS_TYPE):
        meta = vmss.get("_sandbox", {})
        if key(meta.get("cluster_id", "")) == key(cluster_id) and meta.get("pool") == pool:
            vmss["sku"]["capacity"] = meta["instances"] = count


def cluster_view(world: World, cluster: dict[str, Any]) -> dict[str, Any]:
    body = public(cluster)
    pools = world.children(cluster["id"], AP_TYPE)
    body["properties"] = dict(body["properties"])
    body["properties"]["agentPoolProfiles"] = [{"name": p["name"], **p["properties"]} for p in pools]
    return body


def _cluster_id(call: Call) -> str:
    return resource_id_of(call, MC_TYPE)


get_cluster, list_in_group, list_in_subscription = read_handlers(MC_TYPE, MC_READ, view=cluster_view)


def _kubeconfig(world: World, cluster: dict[str, Any], user: str, token: str, server: str) -> str:
    ca = Path(world.urls["ca_bundle"]).read_bytes()
    rg = cluster["id"].split("/")[4]
    user_name = f"{user}_{rg}_{cluster['name']}"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": cluster["name"],
            "preferences": {},
            "clusters": [
                {
                    "name": cluster["name"],
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(ca).decode(),
                    },
                }
            ],
            "contexts": [
                {"name": cluster["name"], "context": {"cluster": cluster["name"], "user": user_name}}
            ],
            "users": [{"name": user_name, "user": {"token": token}}],
        },
        sort_keys=False,
    )


def list_credential(call: Call, admin: bool) -> Response:
    cluster_id = _cluster_id(call)
    action = "listClusterAdminCredential" if admin else "listClusterUserCredential"
    require(call, f"{MC_TYPE}/{action}/action", cluster_id)
    cluster = require_resource(call, cluster_id, MC_TYPE)
    runtime = call.world.clusters.get(key(cluster_id))
    if runtime is None:
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"The Kubernetes API server of cluster '{cluster['name']}' is not running yet; retry shortly.",
        )
    user = "clusterAdmin" if admin else "clusterUser"
    token = runtime.admin_token if admin else runtime.user_token
    config = _kubeconfig(call.world, cluster, user, token, runtime.server_url)
    return json_response(
        {"kubeconfigs": [{"name": user, "value": base64.b64encode(config.encode()).decode()}]}
    )


def _pool_id(call: Call) -> str:
    return f"{_cluster_id(call)}/agentPools/{call.params['pool']}"


def get_pool(call: Call) -> Response:
    require(call, f"{AP_TYPE}/read", _pool_id(call))
    require_resource(call, _cluster_id(call), MC_TYPE)
    pool = call.world.get(_pool_id(call))
    if pool is None:
        raise ArmError(404, "NotFound", f"Agent pool '{call.params['pool']}' was not found.")
    return json_response(public(pool))


def list_pools(call: Call) -> Response:
    require(call, f"{AP_TYPE}/read", _cluster_id(call))
    require_resource(call, _cluster_id(call), MC_TYPE)
    return paged(call, call.world.children(_cluster_id(call), AP_TYPE))


def put_pool(call: Call, ops: Operations) -> Response:
    cluster_id, pool_id, name = _cluster_id(call), _pool_id(call), call.params["pool"]
    cluster = require_resource(call, cluster_id, MC_TYPE)
    require_write(call, f"{AP_TYPE}/write", pool_id)
    props = call.body().get("properties") or {}
    if not _POOL_NAME.match(name):
        raise ArmError(
            400,
            "InvalidParameter",
            f"The agent pool name '{name}' is invalid: lowercase letters and digits, starting with a "
            "letter, at most 12 characters.",
        )
    count, mode = int(props.get("count", 1)), str(props.get("mode") or "User")
    if not 0 <= count <= 1000 or mode not in ("System", "User"):
        raise ArmError(
            400, "InvalidParameter", "properties.count must be 0..1000 and properties.mode System or User."
        )
    vm_size = str(props.get("vmSize") or "Standard_DS2_v2")
    with call.world.lock:
        if cluster["_sandbox"].get("operation"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation is not allowed because there's an in progress "
                f"{cluster['_sandbox']['operation']} operation on cluster '{cluster['name']}'. "
                "Please wait for it to finish before starting a new operation.",
            )
        existing = call.world.get(pool_id)
        cluster["_sandbox"]["operation"] = "update agent pool" if existing else "create agent pool"
        pool = pool_body(cluster_id, name, count, mode, vm_size, "Updating" if existing else "Creating")
        call.world.put(pool)

    def complete() -> None:
        with call.world.lock:
            pool["properties"]["provisioningState"] = "Succeeded"
            cluster["_sandbox"]["operation"] = None
            event = None if existing else create_pool_vmss(call.world, cluster, pool)
            if existing:
                _scale_pool_vmss(call.world, cluster_id, name, count)
        if event:
            call.world.publish("vmss.created", **event)

    op = ops.start("agentpool.put", call.world.timing.agentpool_create_s, complete)
    return json_response(public(pool), 200 if existing else 201, **ops.headers(call, op))


def register(router: ArmRouter, ops: Operations) -> None:
    one = RG + r"/providers/Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)"
    router.add("GET", SUB + r"/providers/Microsoft\.ContainerService/managedClusters", list_in_subscription)
    router.add("GET", RG + r"/providers/Microsoft\.ContainerService/managedClusters", list_in_group)
    router.add("GET", one, get_cluster)
    router.add("POST", one + r"/listClusterUserCredential", lambda call: list_credential(call, admin=False))
    router.add("POST", one + r"/listClusterAdminCredential", lambda call: list_credential(call, admin=True))
    router.add("GET", one + r"/agentPools", list_pools)
    router.add("GET", one + r"/agentPools/(?P<pool>[^/]+)", get_pool)
    router.add("PUT", one + r"/agentPools/(?P<pool>[^/]+)", lambda call: put_pool(call, ops))
