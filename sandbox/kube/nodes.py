"""Node objects for AKS node pool scale sets, named and labelled as AKS does."""

from __future__ import annotations

from typing import Any

from .resources import builtin
from .store import Store, now_rfc3339

NODES = builtin("Node")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int, width: int = 6) -> str:
    digits = ""
    while n:
        n, r = divmod(n, 36)
        digits = _B36[r] + digits
    return digits.rjust(width, "0")


def node_name(vmss_id: str, index: int) -> str:
    """AKS names a node after its scale set (``aks-<pool>-<8 digits>-vmss``, the computer name prefix) and the
    instance id in base 36, so a node name starts with its scale set's name."""
    return f"{vmss_id.rstrip('/').rsplit('/', 1)[-1]}{_base36(index)}"


def vmss_of(node: dict[str, Any]) -> str | None:
    """The scale set id from ``spec.providerID`` (``azure://<vmss id>/virtualMachines/<n>``)."""
    provider = node.get("spec", {}).get("providerID", "")
    if not provider.startswith("azure://") or "/virtualMachines/" not in provider:
        return None
    return provider[len("azure://") :].rsplit("/virtualMachines/", 1)[0]


def node_object(vmss: dict[str, Any], pool: str, mode: str, index: int) -> dict[str, Any]:
    """No ``kubernetes.io/role`` label: AKS nodes of Kubernetes 1.30 have none, so ``kubectl get nodes``
    shows ROLES ``<none>`` as on AKS (older AKS versions set ``kubernetes.io/role=agent`` and showed ``agent``)."""
    name = node_name(vmss["id"], index)
    vm_size = vmss.get("sku", {}).get("name", "Standard_DS2_v2")
    location = vmss.get("location", "eastus")
    node_rg = vmss["id"].split("/")[4]
    labels = {
        "agentpool": pool,
        "kubernetes.azure.com/agentpool": pool,
        "kubernetes.azure.com/mode": mode.lower(),
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/cluster": node_rg,
        "kubernetes.azure.com/nodepool-type": "VirtualMachineScaleSets",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": vm_size,
        "beta.kubernetes.io/instance-type": vm_size,
        "topology.kubernetes.io/region": location,
        "topology.kubernetes.io/zone": "0",
    }
    now = now_rfc3339()
    resources = {"cpu": "2", "memory": "7097684Ki", "pods": "110", "ephemeral-storage": "129886128Ki"}
    return {
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "providerID": f"azure://{vmss['id']}/virtualMachines/{index}",
            "podCIDR": f"10.244.{index}.0/24",
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": f"10.224.0.{index + 4}"},
                {"type": "Hostname", "address": name},
            ],
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {
                "kubeletVersion": "v1.30.6",
                "kubeProxyVersion": "v1.30.6",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "Ubuntu 22.04.5 LTS",
                "containerRuntimeVersion": "containerd://1.7.23-1",
                "kernelVersion": "5.15.0-1074-azure",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }


def add_pool_nodes(store: Store, vmss: dict[str, Any], pool: str, mode: str, count: int) -> list[str]:
    """Create the nodes of a scale set that are not there yet; returns their names."""
    added = []
    for index in range(count):
        node = node_object(vmss, pool, mode, index)
        if store.find(NODES, "", node["metadata"]["name"]) is None:
            store.create(NODES, node)
            added.append(node["metadata"]["name"])
    return added


def is_ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in node.get("status", {}).get("conditions", [])
    )
