"""aad-pod-identity's NMI, as far as a token request from a pod is concerned.

Installed means: a DaemonSet whose name contains ``nmi`` exists in the cluster (what the chart deploys).
Namespaced matching (managed mode or forceNamespaced) is read from that DaemonSet's container: an arg
``--forceNamespaced`` or ``--operation-mode=managed``, or env ``FORCENAMESPACED=true``.
A pod matches an AzureIdentityBinding when its ``aadpodidbinding`` label equals the binding's
``spec.selector``; the binding's ``spec.azureIdentity`` names an AzureIdentity (type 0: ``resourceID`` and
``clientID``). Pods matching an AzurePodIdentityException's ``spec.podLabels`` (in their namespace) bypass NMI.
MIC is not emulated: the identity must already be on the node's scale set (managed mode semantics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .resources import ResourceType, builtin
from .store import Store

DAEMONSETS = builtin("DaemonSet")
GROUP, VERSION = "aadpodidentity.k8s.io", "v1"
BINDING_LABEL = "aadpodidbinding"


@dataclass(frozen=True)
class PodIdentity:
    """An AzureIdentity a pod may use."""

    name: str
    namespace: str
    resource_id: str
    client_id: str


def nmi_daemonset(store: Store) -> dict[str, Any] | None:
    daemonsets, _ = store.list(DAEMONSETS, None, lambda d: "nmi" in d["metadata"]["name"])
    return daemonsets[0] if daemonsets else None


def force_namespaced(nmi: dict[str, Any]) -> bool:
    for container in nmi.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        args = container.get("args") or []
        if (
            "--forceNamespaced" in args
            or "--forceNamespaced=true" in args
            or "--operation-mode=managed" in args
        ):
            return True
        env = {e.get("name"): e.get("value") for e in container.get("env") or []}
        if str(env.get("FORCENAMESPACED", "")).lower() == "true":
            return True
    return False


def _type(store: Store, plural: str) -> ResourceType | None:
    return store.types.lookup(GROUP, VERSION, plural)


def _items(store: Store, plural: str, namespace: str | None) -> list[dict[str, Any]]:
    rtype = _type(store, plural)
    return store.list(rtype, namespace)[0] if rtype else []


def is_exempt(store: Store, pod: dict[str, Any]) -> bool:
    labels = pod["metadata"].get("labels") or {}
    for exception in _items(store, "azurepodidentityexceptions", pod["metadata"]["namespace"]):
        wanted = exception.get("spec", {}).get("podLabels") or {}
        if wanted and all(labels.get(k) == v for k, v in wanted.items()):
            return True
    return False


def pod_identities(store: Store, pod: dict[str, Any], namespaced: bool) -> list[PodIdentity]:
    """The AzureIdentities bound to the pod through its ``aadpodidbinding`` label."""
    selector = (pod["metadata"].get("labels") or {}).get(BINDING_LABEL)
    if not selector:
        return []
    pod_ns = pod["metadata"]["namespace"]
    scope = pod_ns if namespaced else None
    identities = {
        (i["metadata"]["namespace"], i["metadata"]["name"]): i
        for i in _items(store, "azureidentities", scope)
    }
    found: list[PodIdentity] = []
    for binding in _items(store, "azureidentitybindings", scope):
        spec = binding.get("spec", {})
        if spec.get("selector") != selector:
            continue
        identity = identities.get((binding["metadata"]["namespace"], spec.get("azureIdentity", "")))
        if identity is None or int(identity.get("spec", {}).get("type", 0)) != 0:
            continue
        ispec = identity["spec"]
        found.append(
            PodIdentity(
                identity["metadata"]["name"],
                identity["metadata"]["namespace"],
                ispec.get("resourceID", ""),
                ispec.get("clientID", ""),
            )
        )
    return found
