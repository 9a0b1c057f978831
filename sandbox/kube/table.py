"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`` and prints the columns the server
returns (``-o wide`` shows the ``priority: 1`` ones too), so the columns are the API server's, not kubectl's.
Column definitions and cell rules are Kubernetes' own printers: ``kubernetes/kubernetes``
``pkg/printers/internalversion/printers.go`` (``AddHandlers``: ``nodeColumnDefinitions``/``printNode``,
``podColumnDefinitions``/``printPod``) and, for custom resources, ``staging/src/k8s.io/apiextensions-apiserver/
pkg/registry/customresource/tableconvertor/tableconvertor.go`` (Name + the version's
``additionalPrinterColumns``, by default one ``Age`` column of type ``date``). Descriptions are the
``SwaggerDoc()`` texts of k8s.io/api v1.32 (as compiled into kubectl 1.32). Other built-in kinds get the
generic NAME AGE (the real server has a printer per kind; see docs/fidelity/kube.md).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from .resources import ResourceType

Row = list[Any]

NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources may "
    "allow a client to request the generation of an appropriate name automatically. Name is primarily intended "
    "for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
CREATED_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
ADDRESSES_DOC = (
    "List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
    "https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, "
    "but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers "
    "should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should "
    "assume that addresses can change during the lifetime of a Node. However, there are some exceptions where "
    "this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the "
    "downward API (status.hostIP)."
)


def _col(
    name: str, description: str, priority: int = 0, type_: str = "string", fmt: str = ""
) -> dict[str, Any]:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


NAME_COLUMN = _col("Name", NAME_DOC, fmt="name")
AGE_COLUMN = _col("Age", CREATED_DOC)

NODE_COLUMNS = [
    NAME_COLUMN,
    _col("Status", "The status of the node"),
    _col("Roles", "The roles of the node"),
    AGE_COLUMN,
    _col("Version", "Kubelet Version reported by the node."),
    _col("Internal-IP", ADDRESSES_DOC, 1),
    _col("External-IP", ADDRESSES_DOC, 1),
    _col(
        "OS-Image",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        1,
    ),
    _col(
        "Kernel-Version",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        1,
    ),
    _col(
        "Container-Runtime",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        1,
    ),
]

POD_COLUMNS = [
    NAME_COLUMN,
    _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "The aggregate status of the containers in this pod."),
    _col(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this "
        "pod has restarted.",
    ),
    AGE_COLUMN,
    _col(
        "IP",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        1,
    ),
    _col(
        "Node",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling "
        "by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes "
        "responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod "
        "to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/"
        "assign-pod-node/#nodename",
        1,
    ),
    _col(
        "Nominated Node",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled "
        "right away as preemption victims receive their graceful termination periods. This field does not "
        "guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere "
        "if other nodes become available sooner. Scheduler may also decide to give the resources on this node to "
        "a higher priority pod that is created after preemption. As a result, this field may be different than "
        "PodSpec.nodeName when the pod is scheduled.",
        1,
    ),
    _col(
        "Readiness Gates",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its "
        'containers are ready AND all conditions specified in the readiness gates have status equal to "True" '
        "More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
        1,
    ),
]


def wants_table(accept: str | None) -> bool:
    """True when the client asked for ``as=Table`` in ``meta.k8s.io/v1`` (kubectl 1.32 always also accepts JSON)."""
    for part in (accept or "").split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("v") == "v1" and params.get("g") == "meta.k8s.io":
            return True
    return False


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``: what AGE shows."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(obj: dict[str, Any]) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    return human_duration((dt.datetime.now(dt.UTC) - when).total_seconds())


# --- nodes (printNode) ---
def _node_roles(labels: dict[str, str]) -> str:
    roles = set()
    for k, v in labels.items():
        if k.startswith("node-role.kubernetes.io/") and k[len("node-role.kubernetes.io/") :]:
            roles.add(k[len("node-role.kubernetes.io/") :])
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) or "<none>"


def _address(node: dict[str, Any], kind: str) -> str:
    found = [a["address"] for a in node.get("status", {}).get("addresses", []) if a.get("type") == kind]
    return found[0] if found else "<none>"


def node_row(node: dict[str, Any]) -> Row:
    status = node.get("status", {})
    ready = [c for c in status.get("conditions", []) if c.get("type") == "Ready"]
    states = ["Ready" if ready[0].get("status") == "True" else "NotReady"] if ready else ["Unknown"]
    if node.get("spec", {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo", {})
    return [
        node["metadata"]["name"],
        ",".join(states),
        _node_roles(node["metadata"].get("labels") or {}),
        age(node),
        info.get("kubeletVersion", ""),
        _address(node, "InternalIP"),
        _address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


# --- pods (printPod, without init containers: the sandbox ignores them) ---
def pod_row(pod: dict[str, Any]) -> Row:
    spec, status = pod.get("spec", {}), pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or ""
    ready = restarts = 0
    running = False
    for container in reversed(status.get("containerStatuses") or []):
        restarts += int(container.get("restartCount", 0))
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif container.get("ready") and "running" in state:
            running = True
            ready += 1
    if reason == "Completed" and running:
        pod_ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        reason = "Running" if pod_ready else "NotReady"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    gate_cell = (
        f"{sum(conditions.get(g.get('conditionType')) == 'True' for g in gates)}/{len(gates)}"
        if gates
        else "<none>"
    )
    ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        str(restarts),
        age(pod),
        ips[0]["ip"] if ips else "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gate_cell,
    ]


def _row_conditions(pod: dict[str, Any]) -> list[dict[str, str]] | None:
    phase = pod.get("status", {}).get("phase")
    if phase == "Succeeded":
        return [
            {
                "type": "Completed",
                "status": "True",
                "reason": "Succeeded",
                "message": "The pod has completed successfully.",
            }
        ]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return None


# --- custom resources (tableconvertor) ---
def _json_path(obj: Any, path: str) -> Any:
    """The simple JSONPath CRD columns use (``.a.b``, ``.a[0].b``); None when missing."""
    current = obj
    for name, index in re.findall(r"\.([A-Za-z0-9_$-]+)|\[(\d+)\]", path):
        if name:
            current = current.get(name) if isinstance(current, dict) else None
        else:
            current = current[int(index)] if isinstance(current, list) and int(index) < len(current) else None
        if current is None:
            return None
    return current


def _crd_cell(value: Any, type_: str) -> Any:
    """``cellForJSONValue`` (string columns print any value, as JSONPath does); a date becomes an age."""
    if value is None:
        return None
    if type_ == "string":
        return value if isinstance(value, str) else json.dumps(value)
    if type_ == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        try:
            return age({"metadata": {"creationTimestamp": value}})
        except ValueError:
            return "<invalid>"
    return None


def crd_columns(crd: dict[str, Any] | None, version: str) -> list[dict[str, Any]]:
    """The printer columns of one served version (Age by default, as the apiextensions server adds it)."""
    versions = (crd or {}).get("spec", {}).get("versions") or []
    declared = next((v.get("additionalPrinterColumns") for v in versions if v.get("name") == version), None)
    if not declared:
        declared = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    return declared


def _crd_converter(
    columns: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], Row]]:
    headers = [NAME_COLUMN] + [
        _col(
            c["name"],
            c.get("description")
            or f"Custom resource definition column (in JSONPath format): {c['jsonPath']}",
            int(c.get("priority", 0)),
            c.get("type", "string"),
            c.get("format", ""),
        )
        for c in columns
    ]

    def row(obj: dict[str, Any]) -> Row:
        cells = [_crd_cell(_json_path(obj, c["jsonPath"]), c.get("type", "string")) for c in columns]
        return [obj["metadata"]["name"], *cells]

    return headers, row


def _generic_row(obj: dict[str, Any]) -> Row:
    return [obj["metadata"]["name"], age(obj)]


def converter(
    rtype: ResourceType, crd: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], Row]]:
    if rtype.group_resource == ("", "nodes"):
        return NODE_COLUMNS, node_row
    if rtype.group_resource == ("", "pods"):
        return POD_COLUMNS, pod_row
    if crd is not None:
        return _crd_converter(crd_columns(crd, rtype.version))
    return [NAME_COLUMN, AGE_COLUMN], _generic_row


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def table(
    rtype: ResourceType,
    objects: list[dict[str, Any]],
    *,
    crd: dict[str, Any] | None,
    include_object: str | None,
    resource_version: str | None = None,
) -> dict[str, Any]:
    """A Table of ``objects`` (already rendered with apiVersion/kind); ``includeObject`` defaults to Metadata."""
    columns, to_row = converter(rtype, crd)
    include = include_object or "Metadata"
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": to_row(obj)[: len(columns)]}
        if rtype.group_resource == ("", "pods") and (conditions := _row_conditions(obj)):
            entry["conditions"] = conditions
        row_object = _row_object(obj, include)
        if row_object is not None:
            entry["object"] = row_object
        rows.append(entry)
    metadata = {"resourceVersion": resource_version} if resource_version else {}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    }
