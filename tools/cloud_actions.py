"""Things that happen to a customer's cloud outside the product (a new node pool, an AKS upgrade), done through
the real ARM API or the sandbox's admin API; and reads of the sandbox's state for checks. Demo, tests, benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from azure.identity import ClientSecretCredential
from azure.mgmt.containerservice import ContainerServiceClient

from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess

VMSS_TYPE = "microsoft.compute/virtualmachinescalesets"
T = TypeVar("T")


def publisher_credential(box: SandboxProcess) -> ClientSecretCredential:
    """The publisher (the sandbox's client credentials), for any tenant."""
    env = box.env
    return ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
        additionally_allowed_tenants=["*"],
        connection_verify=env["SANDBOX_CA_BUNDLE"],
    )


def publisher_client(box: SandboxProcess, client_cls: Callable[..., T], subscription_id: str) -> T:
    """An ARM SDK client of the sandbox's, as the publisher."""
    env = box.env
    return client_cls(
        publisher_credential(box),
        subscription_id,
        base_url=env["SANDBOX_ARM_URL"],
        credential_scopes=["https://management.azure.com/.default"],
        polling_interval=0.2,
        connection_verify=env["SANDBOX_CA_BUNDLE"],
    )


def aks_client(box: SandboxProcess, spec: CustomerSpec) -> ContainerServiceClient:
    """The customer's AKS resource provider as the publisher."""
    return publisher_client(box, ContainerServiceClient, spec.subscription_id)


def add_agent_pool(box: SandboxProcess, spec: CustomerSpec, pool: str, *, count: int = 1) -> float:
    """PUT agentPools through ARM (as the publisher, Owner of the managed resource group); returns the moment the
    operation completed (time.time())."""
    app = spec.managed_application
    aks = aks_client(box, spec)
    aks.agent_pools.begin_create_or_update(
        app.managed_resource_group_name, app.parameters.aks_name, pool, {"count": count, "mode": "User"}
    ).result()
    return time.time()


def cluster_id(spec: CustomerSpec) -> str:
    app = spec.managed_application
    return (
        f"/subscriptions/{spec.subscription_id}/resourceGroups/{app.managed_resource_group_name}"
        f"/providers/Microsoft.ContainerService/managedClusters/{app.parameters.aks_name}"
    )


def scale_set_identities(box: SandboxProcess, spec: CustomerSpec) -> dict[str, list[str]]:
    """Scale set name -> user-assigned identity ids (lower case), from the sandbox's state."""
    node_rg = f"/resourcegroups/{spec.managed_application.parameters.node_resource_group.lower()}/"
    found: dict[str, list[str]] = {}
    for resource in box.state()["resources"]:
        if resource.get("type", "").lower() == VMSS_TYPE and node_rg in resource["id"].lower():
            ids = (resource.get("identity") or {}).get("userAssignedIdentities") or {}
            found[resource["name"]] = sorted(i.lower() for i in ids)
    return found


def wait_for(
    condition: Any, *, timeout_s: float = 60.0, interval_s: float = 0.5, what: str = "condition"
) -> Any:
    """Poll ``condition()`` until truthy; returns that value; raises TimeoutError naming ``what``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not met within {timeout_s} s")
