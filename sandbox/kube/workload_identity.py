"""The azure-workload-identity mutating webhook, as AKS runs it on a cluster with
``securityProfile.workloadIdentity.enabled``: on Pod CREATE, for pods labelled ``azure.workload.identity/use:
"true"`` (the webhook's objectSelector), it changes the stored Pod.

As upstream's v1 webhook (Azure/azure-workload-identity ``pkg/webhook/webhook.go``, ``consts.go``): every container
and init container not named in the pod's ``azure.workload.identity/skip-containers`` (";"-separated) gets the env
``AZURE_CLIENT_ID`` (service account annotation ``azure.workload.identity/client-id``), ``AZURE_TENANT_ID``
(annotation ``azure.workload.identity/tenant-id``, else the cluster's tenant), ``AZURE_FEDERATED_TOKEN_FILE``
(``/var/run/secrets/azure/tokens/azure-identity-token``) and ``AZURE_AUTHORITY_HOST``, each only when the container
does not set it and the value is not empty, and the read-only volume mount ``azure-identity-token`` at
``/var/run/secrets/azure/tokens``; the pod gets the projected volume ``azure-identity-token`` (a
``serviceAccountToken`` with path ``azure-identity-token``, audience ``api://AzureADTokenExchange``,
``expirationSeconds`` from the pod's, else the service account's ``azure.workload.identity/service-account-token-
expiration`` annotation, else 3600; outside 3600..86400 the pod is refused). The kubelet writes the token
(``projected_tokens.py``).

Differences: ``AZURE_AUTHORITY_HOST`` is the sandbox's AAD (``world.urls['aad']``), not
``https://login.microsoftonline.com/``; a pod whose service account does not exist is left as it is (the real webhook
and the API server's ServiceAccount admission refuse it). Pods that existed before workload identity was enabled are
never changed: they get the token when they are re-created, as on AKS.
"""

from __future__ import annotations

from typing import Any

from ..state import World
from .errors import ApiError
from .projected_tokens import cluster_tenant
from .resources import ResourceType, builtin
from .store import Store

PODS = builtin("Pod")
SERVICEACCOUNTS = builtin("ServiceAccount")
USE_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
EXPIRATION_ANNOTATION = "azure.workload.identity/service-account-token-expiration"
SKIP_CONTAINERS_ANNOTATION = "azure.workload.identity/skip-containers"
TOKEN_VOLUME = "azure-identity-token"
TOKEN_MOUNT_PATH = "/var/run/secrets/azure/tokens"
TOKEN_PATH = f"{TOKEN_MOUNT_PATH}/{TOKEN_VOLUME}"
AUDIENCE = "api://AzureADTokenExchange"
MIN_EXPIRATION_S, MAX_EXPIRATION_S, DEFAULT_EXPIRATION_S = 3600, 86400, 3600
WEBHOOK_NAME = "mutation.azure-workload-identity.io"


def workload_identity_enabled(cluster: dict[str, Any] | None) -> bool:
    profile = ((cluster or {}).get("properties") or {}).get("securityProfile") or {}
    return bool((profile.get("workloadIdentity") or {}).get("enabled"))


def _denied(reason: str) -> ApiError:
    return ApiError(400, "BadRequest", f'admission webhook "{WEBHOOK_NAME}" denied the request: {reason}')


def _expiration(pod_annotations: dict[str, str], sa_annotations: dict[str, str]) -> int:
    raw = pod_annotations.get(EXPIRATION_ANNOTATION) or sa_annotations.get(EXPIRATION_ANNOTATION)
    try:
        seconds = int(raw) if raw else DEFAULT_EXPIRATION_S
    except ValueError as exc:
        raise _denied(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from exc
    if not MIN_EXPIRATION_S <= seconds <= MAX_EXPIRATION_S:
        raise _denied(
            f"token expiration {seconds} not valid. Expected value to be between {MIN_EXPIRATION_S} and "
            f"{MAX_EXPIRATION_S}"
        )
    return seconds


def _mutate_container(container: dict[str, Any], env: list[tuple[str, str]]) -> None:
    present = {e.get("name") for e in container.get("env") or []}
    added = [{"name": k, "value": v} for k, v in env if k not in present and v]
    if added:
        container["env"] = [*(container.get("env") or []), *added]
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") != TOKEN_VOLUME]
    container["volumeMounts"] = [
        *mounts,
        {"name": TOKEN_VOLUME, "mountPath": TOKEN_MOUNT_PATH, "readOnly": True},
    ]


class WorkloadIdentityWebhook:
    """The admission hook of one cluster's store (``Store.admission``)."""

    def __init__(self, world: World, store: Store, cluster_id: str) -> None:
        self.world = world
        self.store = store
        self.cluster_id = cluster_id

    def __call__(self, rtype: ResourceType, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if rtype.group_resource != PODS.group_resource or (meta.get("labels") or {}).get(USE_LABEL) != "true":
            return
        if not workload_identity_enabled(self.world.get(self.cluster_id)):
            return
        spec = pod.setdefault("spec", {})
        sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        sa = self.store.find(SERVICEACCOUNTS, meta["namespace"], sa_name)
        if sa is None:
            return
        sa_annotations = sa["metadata"].get("annotations") or {}
        pod_annotations = meta.get("annotations") or {}
        expiration = _expiration(pod_annotations, sa_annotations)
        env = [
            ("AZURE_CLIENT_ID", sa_annotations.get(CLIENT_ID_ANNOTATION, "")),
            (
                "AZURE_TENANT_ID",
                sa_annotations.get(TENANT_ID_ANNOTATION, cluster_tenant(self.world, self.cluster_id)),
            ),
            ("AZURE_FEDERATED_TOKEN_FILE", TOKEN_PATH),
            ("AZURE_AUTHORITY_HOST", self.world.urls["aad"]),
        ]
        skipped = {s.strip() for s in pod_annotations.get(SKIP_CONTAINERS_ANNOTATION, "").split(";")}
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            if container.get("name") not in skipped:
                _mutate_container(container, env)
        volume = {
            "name": TOKEN_VOLUME,
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "path": TOKEN_VOLUME,
                            "expirationSeconds": expiration,
                            "audience": AUDIENCE,
                        }
                    }
                ]
            },
        }
        spec["volumes"] = [*(v for v in spec.get("volumes") or [] if v.get("name") != TOKEN_VOLUME), volume]
