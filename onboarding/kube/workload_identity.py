"""Azure AD Workload Identity, the cluster side: the service account annotated with the identity's client id, its
token subject, and the name of the federated identity credential that trusts it (that credential's ARM calls:
``azure/federated_credentials.py``)."""

from __future__ import annotations

import re
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api

from ..changes import Change
from ..cluster import IdentityRef
from .objects import ensure_object, ownership_labels

CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
USE_LABEL = "azure.workload.identity/use"


def subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def credential_name(*, customer: str, namespace: str, service_account: str) -> str:
    """Federated credential name (3-120 chars, alphanumerics, '-' and '_'), stable per customer and account."""
    raw = f"ama-{customer}-{namespace}-{service_account}"
    return re.sub(r"[^A-Za-z0-9_-]", "-", raw)[:120]


def service_account_body(
    *, namespace: str, name: str, identity: IdentityRef, customer: str
) -> dict[str, Any]:
    annotations = {CLIENT_ID_ANNOTATION: identity.client_id}
    if identity.tenant_id:
        annotations[TENANT_ID_ANNOTATION] = identity.tenant_id
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": ownership_labels(customer),
            "annotations": annotations,
        },
    }


def ensure_service_account(
    api: ApiClient,
    identity: IdentityRef,
    *,
    namespace: str,
    name: str,
    customer: str,
    step: str,
    dry_run: bool,
) -> Change:
    core = CoreV1Api(api)
    body = service_account_body(namespace=namespace, name=name, identity=identity, customer=customer)
    return ensure_object(
        what=f"ServiceAccount {namespace}/{name}",
        desired=body,
        api=api,
        customer=customer,
        step=step,
        dry_run=dry_run,
        read=lambda: core.read_namespaced_service_account(name, namespace),
        create=lambda b: core.create_namespaced_service_account(namespace, b),
        replace=lambda b: core.replace_namespaced_service_account(name, namespace, b),
    )
