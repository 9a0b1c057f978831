"""aad-pod-identity objects: one AzureIdentity (type 0, user-assigned MSI) and one AzureIdentityBinding per identity,
namespaced, labelled as ours, created or updated in place (``kubectl apply -f podidentity-azureidentity.yaml``)."""

from __future__ import annotations

import re
from typing import Any

from kubernetes.client import ApiClient, CustomObjectsApi

from ..changes import Change
from ..cluster import IdentityRef
from .objects import ensure_object, ownership_labels

GROUP = "aadpodidentity.k8s.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
IDENTITIES = "azureidentities"
BINDINGS = "azureidentitybindings"
USER_ASSIGNED_MSI = 0


def k8s_name(identity_name: str) -> str:
    """An Azure identity name as a Kubernetes object name (lower case, '-' for anything else, <= 63)."""
    name = re.sub(r"[^a-z0-9-]+", "-", identity_name.lower()).strip("-")[:63].rstrip("-")
    return name or "identity"


def default_selector(identity_name: str) -> str:
    """The binding selector (a label value) for an identity: its name, as the seed does."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", identity_name)[:63].strip("-_.")
    return value or "identity"


def binding_name(identity_name: str) -> str:
    return f"{k8s_name(identity_name)[:55].rstrip('-')}-binding"


def azure_identity_body(identity: IdentityRef, *, namespace: str, customer: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "AzureIdentity",
        "metadata": {
            "name": k8s_name(identity.name),
            "namespace": namespace,
            "labels": ownership_labels(customer),
        },
        "spec": {
            "type": USER_ASSIGNED_MSI,
            "resourceID": identity.resource_id,
            "clientID": identity.client_id,
        },
    }


def binding_body(identity: IdentityRef, *, namespace: str, selector: str, customer: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "AzureIdentityBinding",
        "metadata": {
            "name": binding_name(identity.name),
            "namespace": namespace,
            "labels": ownership_labels(customer),
        },
        "spec": {"azureIdentity": k8s_name(identity.name), "selector": selector},
    }


def _ensure_custom(
    api: ApiClient, *, plural: str, body: dict[str, Any], customer: str, step: str, dry_run: bool
) -> Change:
    custom = CustomObjectsApi(api)
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    return ensure_object(
        what=f"{body['kind']} {ns}/{name}",
        desired=body,
        api=api,
        customer=customer,
        step=step,
        dry_run=dry_run,
        read=lambda: custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name),
        create=lambda b: custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, b),
        replace=lambda b: custom.replace_namespaced_custom_object(GROUP, VERSION, ns, plural, name, b),
    )


def ensure_pod_identity(
    api: ApiClient,
    identity: IdentityRef,
    *,
    namespace: str,
    selector: str,
    customer: str,
    step: str,
    dry_run: bool,
) -> dict[str, Change]:
    """AzureIdentity + AzureIdentityBinding for one identity; returns {"Kind ns/name": change}."""
    identity_body = azure_identity_body(identity, namespace=namespace, customer=customer)
    bind = binding_body(identity, namespace=namespace, selector=selector, customer=customer)
    changes = {}
    for plural, body in ((IDENTITIES, identity_body), (BINDINGS, bind)):
        key = f"{body['kind']} {namespace}/{body['metadata']['name']}"
        changes[key] = _ensure_custom(
            api, plural=plural, body=body, customer=customer, step=step, dry_run=dry_run
        )
    return changes
