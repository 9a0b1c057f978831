"""Azure AD Workload Identity: a federated identity credential on the user-assigned identity (trusting the
cluster's OIDC issuer for one service account) and that service account, annotated with the identity's client id."""

from __future__ import annotations

import re
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from kubernetes.client import ApiClient, CoreV1Api

from ..cluster import IdentityRef
from ..errors import PermanentError, azure_errors
from .objects import CREATED, UNCHANGED, UPDATED, WOULD_CREATE, WOULD_UPDATE, ensure_object, ownership_labels

AUDIENCE = "api://AzureADTokenExchange"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
USE_LABEL = "azure.workload.identity/use"


def subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def credential_name(*, customer: str, namespace: str, service_account: str) -> str:
    """Federated credential name (3-120 chars, alphanumerics, '-' and '_'), stable per customer and account."""
    raw = f"ama-{customer}-{namespace}-{service_account}"
    return re.sub(r"[^A-Za-z0-9_-]", "-", raw)[:120]


def _identity_parts(resource_id: str) -> tuple[str, str]:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    try:
        return parts[lowered.index("resourcegroups") + 1], parts[lowered.index("userassignedidentities") + 1]
    except (ValueError, IndexError):
        raise PermanentError(f"not a userAssignedIdentities id: {resource_id}") from None


def read_federated_credential(
    msi_client: Any, identity: IdentityRef, *, name: str, customer: str, step: str
) -> Any | None:
    """The federated identity credential ``name`` on ``identity``, None when there is none."""
    rg, identity_name = _identity_parts(identity.resource_id)
    what = f"federated identity credential {name} on {identity_name}"
    with azure_errors(customer=customer, step=step, action=f"read {what}"):
        try:
            return msi_client.federated_identity_credentials.get(rg, identity_name, name)
        except ResourceNotFoundError:
            return None


def delete_federated_credential(
    msi_client: Any, identity: IdentityRef, *, name: str, customer: str, step: str
) -> None:
    rg, identity_name = _identity_parts(identity.resource_id)
    what = f"federated identity credential {name} on {identity_name}"
    with azure_errors(customer=customer, step=step, action=f"delete {what}"):
        msi_client.federated_identity_credentials.delete(rg, identity_name, name)


def ensure_federated_credential(
    msi_client: Any,
    identity: IdentityRef,
    *,
    name: str,
    issuer: str,
    sub: str,
    customer: str,
    step: str,
    dry_run: bool,
) -> str:
    """The federated identity credential ``name`` on ``identity`` with this issuer, subject and audience."""
    from azure.mgmt.msi.models import FederatedIdentityCredential

    rg, identity_name = _identity_parts(identity.resource_id)
    what = f"federated identity credential {name} on {identity_name}"
    current = read_federated_credential(msi_client, identity, name=name, customer=customer, step=step)
    if current is not None and (
        current.issuer == issuer and current.subject == sub and list(current.audiences or []) == [AUDIENCE]
    ):
        return UNCHANGED
    if dry_run:
        return WOULD_CREATE if current is None else WOULD_UPDATE
    params = FederatedIdentityCredential(issuer=issuer, subject=sub, audiences=[AUDIENCE])
    with azure_errors(customer=customer, step=step, action=f"write {what}"):
        msi_client.federated_identity_credentials.create_or_update(rg, identity_name, name, params)
    return CREATED if current is None else UPDATED


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
) -> str:
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


__all__ = [
    "AUDIENCE",
    "CREATED",
    "USE_LABEL",
    "credential_name",
    "delete_federated_credential",
    "ensure_federated_credential",
    "ensure_service_account",
    "read_federated_credential",
    "subject",
]
