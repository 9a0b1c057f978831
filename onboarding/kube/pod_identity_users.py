"""The pods that still get their token from aad-pod-identity, and the rollout restart that moves them.

A pod uses pod identity when its ``aadpodidbinding`` label is one of the bindings' selectors. The workload identity
webhook mutates a pod only when it is created (it adds ``AZURE_FEDERATED_TOKEN_FILE`` and the projected token
volume to the spec), so a running pod without that variable in its spec keeps asking NMI, and loses its storage
access the moment pod identity goes away, whatever its Deployment's template says now. New pods (a rollout restart:
the annotation ``kubectl rollout restart`` sets on the pod template) are created through the webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api

from . import workload_identity as wi
from .objects import kube_errors, to_dict
from .probe_job import AAD_POD_IDENTITY_LABEL

TOKEN_FILE_ENV = "AZURE_FEDERATED_TOKEN_FILE"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
LIVE_PHASES = {"Pending", "Running"}


@dataclass(frozen=True)
class PodUser:
    """A live pod selected by a pod identity binding whose spec carries no federated token."""

    namespace: str
    pod: str
    deployment: str | None  # the Deployment owning it (through its ReplicaSet), None for any other owner

    def __str__(self) -> str:
        owner = f" (Deployment {self.namespace}/{self.deployment})" if self.deployment else ""
        return f"pod {self.namespace}/{self.pod}{owner}"


def has_federated_token(pod: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return any(env.get("name") == TOKEN_FILE_ENV for c in containers for env in c.get("env") or [])


def _owner(refs: list[dict[str, Any]] | None, kind: str) -> str | None:
    return next((r["name"] for r in refs or [] if r.get("kind") == kind and r.get("controller")), None)


def pod_identity_users(api: ApiClient, selectors: set[str], *, customer: str, step: str) -> list[PodUser]:
    """Live pods, in every namespace, labelled with one of ``selectors`` and without a federated token."""
    if not selectors:
        return []
    core, apps = CoreV1Api(api), AppsV1Api(api)
    label = f"{AAD_POD_IDENTITY_LABEL} in ({','.join(sorted(selectors))})"
    with kube_errors(customer=customer, step=step, action="list pods using pod identity"):
        pods = [to_dict(api, p) for p in core.list_pod_for_all_namespaces(label_selector=label).items]
    users = []
    for pod in pods:
        meta = pod["metadata"]
        if (pod.get("status") or {}).get("phase") not in LIVE_PHASES or meta.get("deletionTimestamp"):
            continue
        if has_federated_token(pod):
            continue
        deployment = None
        replica_set = _owner(meta.get("ownerReferences"), "ReplicaSet")
        if replica_set:
            with kube_errors(customer=customer, step=step, action=f"read ReplicaSet {replica_set}"):
                rs = to_dict(api, apps.read_namespaced_replica_set(replica_set, meta["namespace"]))
            deployment = _owner(rs["metadata"].get("ownerReferences"), "Deployment")
        users.append(PodUser(meta["namespace"], meta["name"], deployment))
    return users


def template_problem(
    api: ApiClient, user: PodUser, *, service_account: str, customer: str, step: str
) -> str | None:
    """Why restarting ``user``'s Deployment would not give its new pods the federated token; None when it would."""
    assert user.deployment is not None
    with kube_errors(
        customer=customer, step=step, action=f"read Deployment {user.namespace}/{user.deployment}"
    ):
        dep = to_dict(api, AppsV1Api(api).read_namespaced_deployment(user.deployment, user.namespace))
    template = dep["spec"].get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    account = (template.get("spec") or {}).get("serviceAccountName") or "default"
    missing = []
    if labels.get(wi.USE_LABEL) != "true":
        missing.append(f"the label {wi.USE_LABEL}=true")
    if account != service_account:
        missing.append(f"serviceAccountName {service_account} (it has {account})")
    return f"its pod template lacks {' and '.join(missing)}" if missing else None


def rollout_restart(api: ApiClient, namespace: str, deployment: str, *, customer: str, step: str) -> None:
    """What ``kubectl rollout restart`` does: stamp the pod template, so the Deployment replaces every pod."""
    patch = {
        "spec": {
            "template": {
                "metadata": {"annotations": {RESTARTED_AT: datetime.now(UTC).isoformat(timespec="seconds")}}
            }
        }
    }
    with kube_errors(customer=customer, step=step, action=f"restart Deployment {namespace}/{deployment}"):
        AppsV1Api(api).patch_namespaced_deployment(deployment, namespace, patch)
