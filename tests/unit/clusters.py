"""A minimal customer spec and ClusterInfo for unit tests that need one but read little of it."""

from __future__ import annotations

from typing import Any

from onboarding.cluster import ClusterInfo, IdentityRef


def cluster_with(identity: IdentityRef) -> ClusterInfo:
    """A cluster whose kubelet and application identity are both ``identity``."""
    return ClusterInfo(
        application_id="a",
        managed_resource_group_id="m",
        cluster_id="c",
        cluster_name="k",
        node_resource_group="nrg",
        node_resource_group_id="n",
        kubelet_identity=identity,
        app_identity=identity,
        identities=[identity],
    )


def raw_spec(**overrides: Any) -> dict[str, Any]:
    """Customer acme's spec as its catalog file holds it, with ``overrides``."""
    raw: dict[str, Any] = {
        "name": "acme",
        "tenant_id": "7c1f4f7e-3a4b-4c55-9a1e-0c2d7f1a1001",
        "subscription_id": "5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001",
        "managed_application": {
            "resource_group": "acme-app",
            "name": "acme-ama",
            "parameters": {"aks_name": "acmeaks", "node_resource_group": "acme-ama-aks-rg"},
        },
    }
    raw.update(overrides)
    return raw
