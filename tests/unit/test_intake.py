"""Intake's pure parts: the proposal from what the publisher read, its YAML, the catalog write, the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from onboarding.azure.managed_app import application_id
from onboarding.catalog import load_catalog
from onboarding.errors import PermanentError
from onboarding.intake import (
    Application,
    catalog_customer,
    customer_name,
    error_lines,
    failure_markdown,
    propose_spec,
    spec_yaml,
    write_entry,
)
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.settings import REPOSITORY_CATALOG

SUB = "5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1777"
TENANT = "7c1f4f7e-3a4b-4c55-9a1e-0c2d7f1a1777"
APP_ID = f"/subscriptions/{SUB}/resourceGroups/acme-app/providers/Microsoft.Solutions/applications/Acme_AMA"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


def _app(**changes: Any) -> Application:
    values: dict[str, Any] = {
        "id": APP_ID,
        "location": "northeurope",
        "plan": {"name": "aks", "publisher": "contoso-publisher", "product": "ama-aks", "version": "1.2.0"},
        "definition_id": None,
        "parameters": {
            "aksName": "acmeaks",
            "nodeResourceGroup": "acme-aks-rg",
            "nodeCount": 3,
            "crossTenant": True,
            "assignKubeletRoles": True,
            "enableWorkloadIdentity": False,
            "identityNodeRoleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{OWNER}",
        },
        "outputs": {
            "identityResourceId": "/subscriptions/x/resourceGroups/acme-mrg/providers/x/y/acmeaks-identity"
        },
        "managed_resource_group_id": f"/subscriptions/{SUB}/resourceGroups/acme-managed",
        "provisioning_state": "Succeeded",
        "tenant_id": TENANT,
    }
    return Application(**{**values, **changes})


def test_the_proposal_adopts_the_application_with_its_template_parameters() -> None:
    spec = propose_spec(_app(), taken=set())
    assert spec.name == "acme-ama"
    assert (spec.tenant_id, spec.subscription_id, spec.location) == (TENANT, SUB, "northeurope")
    app = spec.managed_application
    assert (app.name, app.resource_group, app.adopt_only) == ("Acme_AMA", "acme-app", True)
    assert app.managed_resource_group_name == "acme-managed"
    assert app.plan is not None and app.plan.version == "1.2.0" and app.definition_id is None
    assert (app.parameters.aks_name, app.parameters.node_resource_group, app.parameters.node_count) == (
        "acmeaks",
        "acme-aks-rg",
        3,
    )
    assert spec.pod_identity.mode.value == "aad-pod-identity-standard"
    assert spec.node_role.value == "Owner"


def test_a_service_catalog_application_names_its_definition_and_defaults_what_it_does_not_say() -> None:
    definition = (
        f"/subscriptions/{SUB}/resourceGroups/defs/providers/Microsoft.Solutions/applicationDefinitions/aks"
    )
    spec = propose_spec(
        _app(plan=None, definition_id=definition, parameters={"aksName": "a1", "nodeResourceGroup": "a1-rg"}),
        taken=set(),
    )
    assert spec.managed_application.definition_id == definition and spec.managed_application.plan is None
    assert spec.node_role.value == "Virtual Machine Contributor"
    assert spec.pod_identity.mode.value == "aad-pod-identity-managed"


def test_an_unknown_tenant_is_refused_naming_what_to_do() -> None:
    with pytest.raises(PermanentError, match="tenant") as caught:
        propose_spec(_app(tenant_id=None), taken=set())
    assert "by hand" in str(caught.value.hint)


@pytest.mark.parametrize(
    ("app_name", "taken", "expected"),
    [
        ("Acme_AMA", set(), "acme-ama"),
        ("acme-ama", {"acme-ama", "acme-ama-2"}, "acme-ama-3"),
        ("9lives", set(), "c-9lives"),
        ("x" * 60, {"x" * 32}, "x" * 30 + "-2"),
        ("ab", set(), "ab-customer"),
    ],
)
def test_customer_names_are_valid_and_unique(app_name: str, taken: set[str], expected: str) -> None:
    assert customer_name(app_name, taken) == expected


def test_the_yaml_loads_back_as_the_proposal_and_says_where_it_came_from() -> None:
    app = _app()
    spec = propose_spec(app, taken=set())
    text = spec_yaml(spec, app)
    assert text.startswith(f"# Proposed by intake from managed application {APP_ID}\n")
    assert "plan contoso-publisher/ama-aks/aks/1.2.0" in text
    assert load_customer_spec(yaml.safe_load(text)) == spec


def test_the_entry_is_written_once_and_never_over_a_file(tmp_path: Path) -> None:
    app = _app()
    spec = propose_spec(app, taken=set())
    path = write_entry(spec, spec_yaml(spec, app), tmp_path)
    assert path == tmp_path / "acme-ama.yaml"
    assert load_catalog(tmp_path) == [spec]
    with pytest.raises(PermanentError, match=r"already has acme-ama\.yaml"):
        write_entry(spec, "changed: true\n", tmp_path)
    assert load_catalog(tmp_path) == [spec]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acme-ama.yaml"]


def test_the_catalog_customer_of_an_application_is_found_whatever_the_case() -> None:
    contoso = next(s for s in load_catalog(REPOSITORY_CATALOG) if s.name == "contoso")
    found = catalog_customer(application_id(contoso).upper(), REPOSITORY_CATALOG)
    assert isinstance(found, CustomerSpec) and found.name == "contoso"
    assert catalog_customer(APP_ID, REPOSITORY_CATALOG) is None


def test_the_failure_report_names_every_error_of_the_deployment() -> None:
    error = {
        "code": "ApplianceDeploymentFailed",
        "message": "The operation to create appliance failed.",
        "details": [{"code": "QuotaExceeded", "message": "Not enough cores in northeurope."}],
    }
    assert error_lines(error) == [
        "ApplianceDeploymentFailed: The operation to create appliance failed.",
        "  QuotaExceeded: Not enough cores in northeurope.",
    ]
    text = failure_markdown(APP_ID, error, "Failed")
    assert "# Managed application failed: Acme_AMA" in text
    assert "QuotaExceeded: Not enough cores" in text and "provisioning state now: Failed" in text
    assert "carried no error" in failure_markdown(APP_ID, None, None)
