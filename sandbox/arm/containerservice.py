"""Microsoft.ContainerService: managed clusters (PUT create/update, GET, list, list credentials) and agent pools
(GET, list, PUT)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from ..httpd import Response, json_response
from ..state import Principal, World, key, new_guid
from .aks_identity import ClusterIdentities, check_identities, principal_of, requested_identities
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
    require_rg,
    require_write,
    resource_id_of,
    resources_of_type,
    rg_id,
)
from .compute import VMSS_TYPE, vmss_body
from .containerservice_update import requested_view, start_update, validated_change
from .lro import Operations
from .msi import create_identity, tenant_of_subscription
from .resources import resource_group_body

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


def _validated_pools(props: dict[str, Any]) -> list[dict[str, Any]]:
    """``agentPoolProfiles`` as AKS requires them: at least one, one System pool, valid unique names."""
    pools = props.get("agentPoolProfiles")
    if not isinstance(pools, list) or not pools:
        raise ArmError(
            400, "InvalidParameter", "The value of parameter agentPoolProfiles is invalid: it is required."
        )
    names = [str(p.get("name", "")) for p in pools]
    for name in names:
        if not _POOL_NAME.match(name):
            raise ArmError(
                400,
                "InvalidParameter",
                f"The agent pool name '{name}' is invalid: lowercase letters and digits, starting with a letter, at "
                "most 12 characters.",
            )
    if len(set(names)) != len(names):
        raise ArmError(400, "InvalidParameter", "Agent pool names must be unique.")
    if not any(str(p.get("mode", "User")) == "System" for p in pools):
        raise ArmError(
            400, "InvalidParameter", "A cluster must have at least one agent pool with mode System."
        )
    return pools


def _cluster_body(
    world: World, cluster_id: str, body: dict[str, Any], node_rg: str, state: str
) -> dict[str, Any]:
    props = body.get("properties") or {}
    name = cluster_id.rsplit("/", 1)[-1]
    location = str(body["location"])
    dns_prefix = str(props.get("dnsPrefix") or name)
    oidc = bool((props.get("oidcIssuerProfile") or {}).get("enabled"))
    workload = bool(((props.get("securityProfile") or {}).get("workloadIdentity") or {}).get("enabled"))
    network = {
        "networkPlugin": "kubenet",
        "loadBalancerSku": "standard",
        "outboundType": "loadBalancer",
        "podCidr": "10.244.0.0/16",
        "serviceCidr": "10.0.0.0/16",
        "dnsServiceIP": "10.0.0.10",
    } | (props.get("networkProfile") or {})
    return {
        "id": cluster_id,
        "name": name,
        "type": MC_TYPE,
        "location": location,
        "tags": body.get("tags") or {},
        "sku": {"name": "Base", "tier": "Free"},
        "properties": {
            "provisioningState": state,
            "powerState": {"code": "Running"},
            "kubernetesVersion": str(props.get("kubernetesVersion") or KUBERNETES_VERSION),
            "currentKubernetesVersion": str(props.get("kubernetesVersion") or KUBERNETES_VERSION),
            "dnsPrefix": dns_prefix,
            "fqdn": f"{dns_prefix.lower()}.hcp.{location}.azmk8s.io",
            "nodeResourceGroup": node_rg,
            "enableRBAC": bool(props.get("enableRBAC", True)),
            "oidcIssuerProfile": {"enabled": oidc},
            "securityProfile": {"workloadIdentity": {"enabled": workload}},
            "networkProfile": network,
            "nodeResourceGroupProfile": {"restrictionLevel": "Unrestricted"},
        },
        "_sandbox": {
            "operation": "create managed cluster",
            "requested_pools": _validated_pools(props),
            "requested_identities": requested_identities(body).as_dict(),
        },
    }


def _identity_profile(
    world: World, cluster: dict[str, Any], node_rg: str, kubelet_id: str | None
) -> dict[str, Any]:
    """``identityProfile``: the kubelet identity asked for, or AKS's own ``<cluster>-agentpool`` in the node
    resource group."""
    if kubelet_id is None:
        kubelet_id = create_identity(
            world,
            f"{node_rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{cluster['name']}-agentpool",
            cluster["location"],
        )["id"]
    kubelet = principal_of(world, kubelet_id)
    return {
        "kubeletidentity": {
            "resourceId": kubelet_id,
            "clientId": kubelet.client_id,
            "objectId": kubelet.object_id,
        }
    }


def _control_plane_identity(world: World, cluster: dict[str, Any], identity_id: str | None) -> dict[str, Any]:
    """``identity``: the user-assigned identity asked for, or a system-assigned one AKS creates."""
    if identity_id is not None:
        principal = principal_of(world, identity_id)
        return {
            "type": "UserAssigned",
            "userAssignedIdentities": {
                identity_id: {"principalId": principal.object_id, "clientId": principal.client_id}
            },
        }
    principal = world.add_principal(
        Principal(
            object_id=new_guid(),
            tenant_id=tenant_of_subscription(world, cluster["id"]),
            kind="ManagedIdentity",
            client_id=new_guid(),
            display_name=cluster["name"],
        )
    )
    return {"type": "SystemAssigned", "principalId": principal.object_id, "tenantId": principal.tenant_id}


def _provision(world: World, cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """What AKS creates for a new cluster: its node resource group, kubelet identity and control plane identity
    (unless the create named its own), OIDC issuer and one scale set per agent pool; returns the scale set events."""
    cluster_id, props = cluster["id"], cluster["properties"]
    sub, location = cluster_id.split("/")[2], cluster["location"]
    node_rg = rg_id(sub, props["nodeResourceGroup"])
    world.put(resource_group_body(sub, props["nodeResourceGroup"], location, managed_by=cluster_id))
    wanted = ClusterIdentities(**cluster["_sandbox"].pop("requested_identities"))
    cluster["identity"] = _control_plane_identity(world, cluster, wanted.control_plane_id)
    props["identityProfile"] = _identity_profile(world, cluster, node_rg, wanted.kubelet_id)
    if props["oidcIssuerProfile"]["enabled"]:
        issuer = f"{world.urls['aad']}/oidc/{new_guid()}/"
        # Azure's key is issuerURL; issuerUrl is the sandbox-internal alias other services read.
        props["oidcIssuerProfile"] |= {"issuerURL": issuer, "issuerUrl": issuer}
    events = []
    for requested in cluster["_sandbox"].pop("requested_pools"):
        pool = world.put(
            pool_body(
                cluster_id,
                str(requested["name"]),
                int(requested.get("count", 1)),
                str(requested.get("mode", "User")),
                str(requested.get("vmSize") or "Standard_DS2_v2"),
                "Succeeded",
            )
        )
        events.append(create_pool_vmss(world, cluster, pool))
    props["provisioningState"] = "Succeeded"
    cluster["_sandbox"]["operation"] = None
    return events


def put_cluster(call: Call, ops: Operations) -> Response:
    """Create a cluster (an LRO of ``app_deploy_s``: the cluster is what makes an application's deployment slow),
    or update an existing one (``containerservice_update``)."""
    cluster_id = _cluster_id(call)
    require_rg(call)
    require_write(call, f"{MC_TYPE}/write", cluster_id)
    body = call.body()
    with call.world.lock:
        existing = call.world.get(cluster_id)
        if existing is not None:
            if existing["_sandbox"].get("operation"):
                raise _busy(existing)
            change = validated_change(call.world, existing, body)
            op = start_update(call, ops, existing, change)
            shown = requested_view(cluster_view(call.world, existing), change)
            return json_response(shown, 200, **ops.headers(call, op))
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        props = body.get("properties") or {}
        node_rg = str(
            props.get("nodeResourceGroup")
            or f"MC_{call.params['rg']}_{call.params['name']}_{body['location']}"
        )
        if call.world.get(rg_id(call.params["sub"], node_rg)) is not None:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The node resource group '{node_rg}' already exists: AKS creates the node resource group and it "
                "must not exist yet.",
            )
        created = _cluster_body(call.world, cluster_id, body, node_rg, "Creating")
        check_identities(call, ClusterIdentities(**created["_sandbox"]["requested_identities"]))
        cluster = call.world.put(created)

    def complete() -> None:
        with call.world.lock:
            events = _provision(call.world, cluster)
        call.world.publish("cluster.created", cluster_id=cluster_id)
        for event in events:
            call.world.publish("vmss.created", **event)

    op = ops.start("managedcluster.create", call.world.timing.app_deploy_s, complete)
    return json_response(cluster_view(call.world, cluster), 201, **ops.headers(call, op))


def _busy(cluster: dict[str, Any]) -> ArmError:
    """AKS's answer to a write while another operation runs (as Terraform users quote it: "Operation is not
    allowed because there's an in progress update managed cluster operation (operation ID: ...) on the managed
    cluster ... started on UTC ...")."""
    return ArmError(
        409,
        "OperationNotAllowed",
        f"Operation is not allowed because there's an in progress {cluster['_sandbox']['operation']} operation on "
        f"the managed cluster '{cluster['name']}'. Please wait for it to finish before starting a new operation.",
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
            raise _busy(cluster)
        existing = call.world.get(pool_id)
        cluster["_sandbox"]["operation"] = "update node pool" if existing else "create node pool"
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
    router.add("PUT", one, lambda call: put_cluster(call, ops))
    router.add("POST", one + r"/listClusterUserCredential", lambda call: list_credential(call, admin=False))
    router.add("POST", one + r"/listClusterAdminCredential", lambda call: list_credential(call, admin=True))
    router.add("GET", one + r"/agentPools", list_pools)
    router.add("GET", one + r"/agentPools/(?P<pool>[^/]+)", get_pool)
    router.add("PUT", one + r"/agentPools/(?P<pool>[^/]+)", lambda call: put_pool(call, ops))
