"""Makes catalog customers exist in the sandbox cloud, as real customers exist in Azure before onboarding."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import yaml

from onboarding.azure.managed_app import template_parameters
from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess


def register_customer(
    box: SandboxProcess, spec: CustomerSpec, *, parameters: dict[str, object] | None = None
) -> None:
    """Make the customer exist in the sandbox cloud, as a real customer exists in Azure before onboarding.
    A customer already there (its subscription exists: 409) is left as it is, so tests sharing one sandbox may
    each make sure of the same catalog customer. ``parameters``: template parameters that differ from the ones
    onboarding deploys with (e.g. ``enableWorkloadIdentity`` on for a pod identity customer)."""
    body: dict[str, object] = {
        "name": spec.name,
        "tenant_id": spec.tenant_id,
        "subscription_id": spec.subscription_id,
        "location": spec.location,
    }
    if spec.managed_application.adopt_only:
        # As if the customer had bought it from the Marketplace: the sandbox deploys it at once.
        app = spec.managed_application
        # With the parameters onboarding itself would deploy it with (the same template, executed).
        adopt: dict[str, object] = {
            "applicationName": app.name,
            "managedResourceGroupName": app.managed_resource_group_name,
            **{name: p["value"] for name, p in template_parameters(spec).items()},
            **(parameters or {}),
        }
        if app.definition_id:  # deployed by the customer from that service catalog definition
            adopt["applicationDefinitionId"] = app.definition_id
        body["adopt"] = adopt
    try:
        box.add_customer(**body)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise


def write_catalog_entry(catalog: Path, spec: CustomerSpec) -> None:
    """The customer's file in a catalog folder (a customer flow runs reading that catalog know by name)."""
    (catalog / f"{spec.name}.yaml").write_text(
        yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True))
    )
