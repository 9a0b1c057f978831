"""Resource types a cluster serves: the built-in kinds clients and charts need, plus live CRDs."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "log", "attach"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> tuple[str, str]:
        """Storage key: one bucket per group and plural, whatever version a client uses."""
        return (self.group, self.plural)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _t(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, short, sub)


BUILTINS: tuple[ResourceType, ...] = (
    _t("", "v1", "namespaces", "Namespace", False, ("ns",), ("status",)),
    _t("", "v1", "nodes", "Node", False, ("no",), ("status",)),
    _t("", "v1", "pods", "Pod", True, ("po",), ("status", "log", "attach")),
    _t("", "v1", "services", "Service", True, ("svc",), ("status",)),
    _t("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    _t("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    _t("", "v1", "secrets", "Secret", True),
    _t("", "v1", "events", "Event", True, ("ev",)),
    _t("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    _t("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)),
    _t("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), ("status",)),
    _t("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    _t("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("status",)),
    _t("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",)),
    _t("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("status",)),
    _t("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("status",)),
    _t("batch", "v1", "jobs", "Job", True, (), ("status",)),
    _t("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("status",)),
    _t("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _t(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("status",),
    ),
    _t("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), ("status",)),
    _t(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
    ),
    _t(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
    ),
    _t("coordination.k8s.io", "v1", "leases", "Lease"),
    _t("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    _t("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    _t("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
)

CRD = next(t for t in BUILTINS if t.kind == "CustomResourceDefinition")


def builtin(kind: str) -> ResourceType:
    return next(t for t in BUILTINS if t.kind == kind)


def types_of_crd(crd: dict[str, Any]) -> list[ResourceType]:
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    found = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        sub = ("status",) if "status" in (version.get("subresources") or {}) else ()
        found.append(
            ResourceType(
                spec["group"],
                version["name"],
                names["plural"],
                names["kind"],
                namespaced,
                tuple(names.get("shortNames", [])),
                sub,
            )
        )
    return found


class Registry:
    """Built-in types and the types of the CRDs currently in the store (a CRD makes its paths live)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crd_types: dict[str, list[ResourceType]] = {}  # CRD name -> its served versions

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(BUILTINS) + [t for ts in self._crd_types.values() for t in ts]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for t in self.all():
            if t.group == group and t.version == version and t.plural == plural:
                return t
        return None

    def register_crd(self, crd: dict[str, Any]) -> None:
        with self._lock:
            self._crd_types[crd["metadata"]["name"]] = types_of_crd(crd)

    def unregister_crd(self, crd: dict[str, Any]) -> None:
        with self._lock:
            self._crd_types.pop(crd["metadata"]["name"], None)

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, in first-seen order (the core group is not included)."""
        found: dict[str, list[str]] = {}
        for t in self.all():
            if t.group and t.version not in found.setdefault(t.group, []):
                found[t.group].append(t.version)
        return found
