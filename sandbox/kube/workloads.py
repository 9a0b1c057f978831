"""Deployment, ReplicaSet and DaemonSet controllers, enough for ``helm --wait`` and rollout checks.

A Deployment gets one ReplicaSet per pod template (``<name>-<pod-template-hash>``, owned, the template
plus the hash label; older ReplicaSets are deleted); a ReplicaSet keeps ``replicas`` pods; a DaemonSet keeps
one pod on every Ready node matching its nodeSelector (new nodes get one). The pods are real Pod objects
that the kubelet starts (non-python images just become Running and Ready). Statuses (observedGeneration,
replicas/ready/available/updated counts, desired/current/ready numbers, Available condition) follow the pods.
StatefulSets are stored but not controlled.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .jobs import controller_of, owner_reference, pod_from_template
from .kubelet import PODS
from .nodes import NODES, is_ready
from .resources import builtin
from .selectors import match_labels
from .store import Event, Store, now_rfc3339, random_suffix

DEPLOYMENTS = builtin("Deployment")
REPLICASETS = builtin("ReplicaSet")
DAEMONSETS = builtin("DaemonSet")


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return "".join(c for c in digest if c in "bcdfghjklmnpqrstvwxz2456789")[:10]


def _ready(pod: dict[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") == "Running"


def _write_status(store: Store, rtype: Any, obj: dict[str, Any], status: dict[str, Any]) -> None:
    obj = copy.deepcopy(obj)
    obj["status"] = status
    obj["metadata"].pop("resourceVersion", None)
    store.update(rtype, obj, status_only=True)


class WorkloadController:
    def __init__(self, store: Store) -> None:
        self.store = store

    def handle(self, event: Event) -> None:
        gr, obj = event.rtype.group_resource, event.obj
        namespace = obj["metadata"].get("namespace", "")
        if gr == DEPLOYMENTS.group_resource and event.type != "DELETED":
            self._sync_deployment(namespace, obj["metadata"]["name"])
        elif gr == REPLICASETS.group_resource:
            if event.type != "DELETED":
                self._sync_replicaset(namespace, obj["metadata"]["name"])
            owner = controller_of(obj, "Deployment")
            if owner is not None:
                self._deployment_status(namespace, owner["name"])
        elif gr == DAEMONSETS.group_resource and event.type != "DELETED":
            self._sync_daemonset(namespace, obj["metadata"]["name"])
        elif gr == NODES.group_resource:
            for ds in self.store.list(DAEMONSETS)[0]:
                self._sync_daemonset(ds["metadata"]["namespace"], ds["metadata"]["name"])
        elif gr == PODS.group_resource:
            if owner := controller_of(obj, "ReplicaSet"):
                self._sync_replicaset(namespace, owner["name"])
            elif owner := controller_of(obj, "DaemonSet"):
                self._sync_daemonset(namespace, owner["name"])

    def _owned(self, rtype: Any, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        items, _ = self.store.list(
            rtype,
            owner["metadata"]["namespace"],
            lambda o: any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or []),
        )
        return items

    # --- Deployment -> ReplicaSet ---
    def _sync_deployment(self, namespace: str, name: str) -> None:
        dep = self.store.find(DEPLOYMENTS, namespace, name)
        if dep is None:
            return
        template = dep["spec"].get("template", {})
        pod_hash = template_hash(template)
        rs_name = f"{name}-{pod_hash}"
        for rs in self._owned(REPLICASETS, dep):
            if rs["metadata"]["name"] != rs_name:
                self.store.delete(REPLICASETS, namespace, rs["metadata"]["name"])
        rs_template = copy.deepcopy(template)
        rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
        selector = copy.deepcopy(dep["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        current = self.store.find(REPLICASETS, namespace, rs_name)
        labels = dict(rs_template["metadata"]["labels"])
        if current is None:
            self.store.create(
                REPLICASETS,
                {
                    "metadata": {
                        "name": rs_name,
                        "namespace": namespace,
                        "labels": labels,
                        "annotations": {"deployment.kubernetes.io/revision": "1"},
                        "ownerReferences": [owner_reference(dep)],
                    },
                    "spec": {
                        "replicas": dep["spec"].get("replicas", 1),
                        "selector": selector,
                        "template": rs_template,
                    },
                },
                namespace,
            )
        elif current["spec"].get("replicas") != dep["spec"].get("replicas", 1):
            current["spec"]["replicas"] = dep["spec"].get("replicas", 1)
            current["metadata"].pop("resourceVersion", None)
            self.store.update(REPLICASETS, current)
        self._deployment_status(namespace, name)

    def _deployment_status(self, namespace: str, name: str) -> None:
        dep = self.store.find(DEPLOYMENTS, namespace, name)
        if dep is None:
            return
        sets = self._owned(REPLICASETS, dep)
        ready = sum(rs.get("status", {}).get("readyReplicas", 0) for rs in sets)
        replicas = sum(rs.get("status", {}).get("replicas", 0) for rs in sets)
        wanted = dep["spec"].get("replicas", 1)
        available = ready >= wanted
        now = now_rfc3339()
        conditions = [
            {
                "type": "Available",
                "status": "True" if available else "False",
                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable" if available else "ReplicaSetUpdated",
                "message": f'ReplicaSet "{sets[0]["metadata"]["name"] if sets else name}" is progressing.',
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
        ]
        old = dep.get("status", {})
        status = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, wanted - ready),
            "conditions": conditions,
        }
        if {k: v for k, v in status.items() if k != "conditions"} != {
            k: v for k, v in old.items() if k != "conditions"
        } or [c["status"] for c in old.get("conditions", [])] != [c["status"] for c in conditions]:
            _write_status(self.store, DEPLOYMENTS, dep, status)

    # --- ReplicaSet -> Pods ---
    def _sync_replicaset(self, namespace: str, name: str) -> None:
        rs = self.store.find(REPLICASETS, namespace, name)
        if rs is None:
            return
        pods = self._owned(PODS, rs)
        wanted = rs["spec"].get("replicas", 1)
        for _ in range(wanted - len(pods)):
            pods.append(
                self.store.create(PODS, pod_from_template(rs, f"{name}-{random_suffix()}"), namespace)
            )
        for extra in pods[wanted:]:
            self.store.delete(PODS, namespace, extra["metadata"]["name"])
        pods = pods[:wanted]
        ready = sum(1 for p in pods if _ready(p))
        _write_status(
            self.store,
            REPLICASETS,
            rs,
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"]["generation"],
            },
        )

    # --- DaemonSet -> one Pod per node ---
    def _sync_daemonset(self, namespace: str, name: str) -> None:
        ds = self.store.find(DAEMONSETS, namespace, name)
        if ds is None:
            return
        template = ds["spec"].get("template", {})
        pod_hash = template_hash(template)
        selector = template.get("spec", {}).get("nodeSelector") or {}
        nodes, _ = self.store.list(
            NODES,
            None,
            lambda n: (
                is_ready(n) and match_labels({"matchLabels": selector}, n["metadata"].get("labels") or {})
            ),
        )
        node_names = {n["metadata"]["name"] for n in nodes}
        by_node: dict[str, dict[str, Any]] = {}
        for pod in self._owned(PODS, ds):
            node = pod["spec"].get("nodeName", "")
            labels = pod["metadata"].get("labels") or {}
            if (
                node not in node_names
                or node in by_node
                or labels.get("controller-revision-hash") != pod_hash
            ):
                self.store.delete(PODS, namespace, pod["metadata"]["name"])
            else:
                by_node[node] = pod
        for node in sorted(node_names - set(by_node)):
            pod = pod_from_template(ds, f"{name}-{random_suffix()}")
            pod["metadata"]["labels"]["controller-revision-hash"] = pod_hash
            pod["spec"]["nodeName"] = node
            by_node[node] = self.store.create(PODS, pod, namespace)
        ready = sum(1 for p in by_node.values() if _ready(p))
        _write_status(
            self.store,
            DAEMONSETS,
            ds,
            {
                "desiredNumberScheduled": len(node_names),
                "currentNumberScheduled": len(by_node),
                "updatedNumberScheduled": len(by_node),
                "numberReady": ready,
                "numberAvailable": ready,
                "numberUnavailable": len(node_names) - ready,
                "numberMisscheduled": 0,
                "observedGeneration": ds["metadata"]["generation"],
            },
        )
