"""Makes catalog customers exist in the sandbox cloud, as real customers exist in Azure before onboarding."""

from __future__ import annotations

from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess


def register_customer(box: SandboxProcess, spec: CustomerSpec) -> None:
    """Make the customer exist in the sandbox cloud, as a real customer exists in Azure before onboarding."""
    body: dict[str, object] = {
        "name": spec.name,
        "tenant_id": spec.tenant_id,
        "subscription_id": spec.subscription_id,
        "location": spec.location,
    }
    if spec.managed_application.adopt_only:
        app = spec.managed_application
        body["adopt"] = {
            "resource_group": app.resource_group,
            "name": app.name,
            "managed_resource_group": app.managed_resource_group_name,
            "plan": app.plan.model_dump() if app.plan else None,
            "aks_name": app.parameters.aks_name,
            "node_resource_group": app.parameters.node_resource_group,
            "node_count": app.parameters.node_count,
        }
    box.add_customer(**body)
