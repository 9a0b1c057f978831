"""The adopted Marketplace customer most integration tests start from: a spec with adopt_only (registered with
tools.customers.register_customer, the sandbox deploys its application at once, with onboarding's parameters)."""

from __future__ import annotations

import uuid
from typing import Any

from onboarding.models import CustomerSpec, load_customer_spec

MARKETPLACE_PLAN = {"name": "aks", "publisher": "sandbox-publisher", "product": "ama-aks", "version": "1.0.0"}


def adopted_spec(
    name: str, mode: str = "workload-identity", *, adopt_only: bool = True, **extra: Any
) -> CustomerSpec:
    """A customer of its own tenant and subscription whose application ``<name>-ama`` was bought already (with
    ``adopt_only=False``: one that onboarding, or the customer's purchase, deploys from the Marketplace plan)."""
    return load_customer_spec(
        {
            "name": name,
            "tenant_id": str(uuid.uuid4()),
            "subscription_id": str(uuid.uuid4()),
            "managed_application": {
                "resource_group": f"{name}-app",
                "name": f"{name}-ama",
                "adopt_only": adopt_only,
                "plan": MARKETPLACE_PLAN,
                "parameters": {"aks_name": f"{name}aks", "node_resource_group": f"{name}-ama-aks-rg"},
            },
            "pod_identity": {"mode": mode},
            **extra,
        }
    )
