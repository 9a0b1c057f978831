"""A generated catalog of many customers for scale runs: valid CustomerSpec YAML files, one per customer, in the
three shapes of the repository's catalog (service catalog + managed aad-pod-identity, standard mode with Owner on
the node resource group, adopted Marketplace application with workload identity), in turn.

Every customer has its own subscription (a subscription holds one customer's application); the subscriptions are
spread over ``tenants`` tenants, as a customer organisation with several subscriptions has.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

from onboarding.catalog import load_catalog
from onboarding.models import CustomerSpec

_NAMESPACE = uuid.UUID("3d4f9a52-6a7e-4b1c-9f0e-5b2a1c8d7e60")  # stable GUIDs: same catalog every time


def _guid(kind: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}-{index}"))


def customer_document(index: int, tenants: int) -> dict[str, Any]:
    name = f"fleet-{index:03d}"
    app: dict[str, Any] = {
        "resource_group": f"{name}-app",
        "name": f"{name}-ama",
        "parameters": {"aks_name": f"{name}aks", "node_resource_group": f"{name}-ama-aks-rg"},
    }
    doc: dict[str, Any] = {
        "name": name,
        "display_name": f"Fleet customer {index}",
        "tenant_id": _guid("tenant", index % tenants),
        "subscription_id": _guid("subscription", index),
        "location": ("eastus", "westeurope", "westus2")[index % 3],
        "managed_application": app,
    }
    shape = index % 3
    if shape == 0:
        doc["credential_source"] = "application-tokens"
        doc["pod_identity"] = {"mode": "aad-pod-identity-managed", "namespace": "default"}
    elif shape == 1:
        doc["credential_source"] = "application-tokens"
        doc["node_role"] = "Owner"
        doc["pod_identity"] = {"mode": "aad-pod-identity-standard", "namespace": "default"}
    else:
        app["adopt_only"] = True
        app["plan"] = {
            "name": "aks-standard",
            "publisher": "contoso-publisher",
            "product": "ama-aks",
            "version": "1.0.0",
        }
        doc["pod_identity"] = {
            "mode": "workload-identity",
            "namespace": "analytics",
            "service_account": "storage-reader",
        }
    return doc


def write_fleet_catalog(directory: Path, count: int, tenants: int = 10) -> list[CustomerSpec]:
    """Write ``count`` customer files into ``directory`` and return them loaded (and so validated) as the flows
    will load them."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(1, count + 1):
        doc = customer_document(index, tenants)
        (directory / f"{doc['name']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_catalog(directory)
