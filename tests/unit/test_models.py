"""CustomerSpec validation: valid specs load; invalid ones name the customer and every bad field."""

from __future__ import annotations

from typing import Any

import pytest

from onboarding.errors import InvalidSpecError, PermanentError
from onboarding.models import CredentialSource, NodeRole, PodIdentityMode, load_customer_spec

from .clusters import raw_spec


def test_minimal_spec_gets_the_defaults() -> None:
    spec = load_customer_spec(raw_spec())
    assert spec.credential_source is CredentialSource.APPLICATION_TOKENS
    assert spec.node_role is NodeRole.VIRTUAL_MACHINE_CONTRIBUTOR
    assert spec.pod_identity.mode is PodIdentityMode.AAD_POD_IDENTITY_MANAGED
    assert spec.managed_application.managed_resource_group_name == "acme-ama-mrg"
    assert spec.managed_application.parameters.cross_tenant is True
    assert spec.storage.directory == "folder1"


def test_invalid_fields_are_named_with_the_customer() -> None:
    raw = raw_spec(tenant_id="not-a-guid", node_role="Superuser")
    with pytest.raises(InvalidSpecError) as info:
        load_customer_spec(raw, source="acme.yaml")
    message = str(info.value)
    assert "customer 'acme'" in message
    assert "acme.yaml" in message
    assert "field tenant_id" in message
    assert "field node_role" in message
    assert isinstance(info.value, PermanentError)


def test_nested_field_path_is_named() -> None:
    raw = raw_spec()
    raw["managed_application"]["parameters"]["node_count"] = 0
    with pytest.raises(InvalidSpecError, match=r"field managed_application\.parameters\.node_count"):
        load_customer_spec(raw)


def test_definition_and_plan_are_exclusive() -> None:
    raw = raw_spec()
    raw["managed_application"]["definition_id"] = (
        "/subscriptions/00000000-0000-4000-8000-00000000b001/resourceGroups/publisher-rg"
        "/providers/Microsoft.Solutions/applicationDefinitions/ama-aks"
    )
    raw["managed_application"]["plan"] = {
        "name": "p",
        "publisher": "pub",
        "product": "ama",
        "version": "1.0.0",
    }
    with pytest.raises(InvalidSpecError, match="either definition_id or plan"):
        load_customer_spec(raw)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("storage", {"directory": "../etc"}),
        (
            "identities",
            [
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a"
            ],
        ),
        ("chart", {"repository": "https://example.com/charts; rm -rf /"}),
        ("unknown_field", 1),
    ],
)
def test_unsafe_or_unknown_values_are_rejected(field: str, value: Any) -> None:
    with pytest.raises(InvalidSpecError, match=f"field {field}"):
        load_customer_spec(raw_spec(**{field: value}))


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidSpecError, match="must be a mapping"):
        load_customer_spec(["acme"], source="acme.yaml")
