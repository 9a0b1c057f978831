"""Publishing through the sandbox with the real azure-mgmt-resource client: the first publish creates the service
catalog definition, a re-run writes nothing, a template change updates it, and a customer's application deployed
from the published definition is onboarded (its notifications go to the endpoint on the definition)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.resource.resources import ResourceManagementClient

from onboarding.azure.credentials import publisher_credential
from onboarding.azure.managed_app import SOLUTIONS_API_VERSION
from onboarding.context import CustomerContext
from onboarding.models import load_customer_spec
from onboarding.pipeline import run_onboarding
from onboarding.publish import TEMPLATES, publish
from onboarding.settings import Settings
from sandbox import seed
from sandbox.client import SandboxProcess
from tools.customers import register_customer

from .armkit import credential, eventually, make

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SECRET = "publish-sig-0123456789"
# Nothing listens there: the notifications are only looked up in the sandbox's attempt log.
PUBLIC_URL = "https://127.0.0.1:9/ama"
FAST = {
    "poll_interval_s": 0.1,
    "retry_base_delay_s": 0.1,
    "retry_max_delay_s": 0.5,
    "propagation_budget_s": 60,
    "deployment_timeout_s": 120,
    "probe_timeout_s": 120,
}


def _definition_id(name: str) -> str:
    return f"{seed.PUBLISHER_RG_ID}/providers/Microsoft.Solutions/applicationDefinitions/{name}"


@pytest.fixture(scope="module")
def resources(sandbox: SandboxProcess) -> ResourceManagementClient:
    return make(ResourceManagementClient, sandbox, credential(sandbox), seed.PUBLISHER_SUBSCRIPTION_ID)


@pytest.fixture(scope="module")
def publisher_object_id(sandbox: SandboxProcess, resources: ResourceManagementClient) -> str:
    """The publisher principal's object id, as the sandbox gives it and its seeded definition authorizes it."""
    seeded = resources.resources.get_by_id(seed.APPLICATION_DEFINITION_ID, api_version=SOLUTIONS_API_VERSION)
    assert (
        seeded.properties["authorizations"][0]["principalId"]
        == sandbox.env["ONBOARDING_PUBLISHER_PRINCIPAL_ID"]
    )
    return sandbox.env["ONBOARDING_PUBLISHER_PRINCIPAL_ID"]


def _settings(publisher_object_id: str, definition: str, **extra: Any) -> Settings:
    return Settings(
        application_definition_id=_definition_id(definition),
        publisher_principal_id=publisher_object_id,
        receiver_public_url=PUBLIC_URL,
        receiver_notification_secret=SECRET,  # type: ignore[arg-type]
        **FAST,  # type: ignore[arg-type]
        **extra,
    )


def test_publish_creates_then_writes_nothing_then_updates_on_a_template_change(
    sandbox: SandboxProcess, resources: ResourceManagementClient, publisher_object_id: str, tmp_path: Path
) -> None:
    settings = _settings(publisher_object_id, "published")
    cred = publisher_credential(settings)
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    zip_path = tmp_path / "dist" / "app.zip"

    planned = publish(settings, cred, dry_run=True, package_path=zip_path, templates=templates)
    assert (planned.action, planned.package_written) == ("created", True)
    assert not zip_path.exists()

    mark = sandbox.mark()
    created = publish(settings, cred, package_path=zip_path, templates=templates)
    assert created.action == "created"
    assert sandbox.arm_writes(mark, seed.PUBLISHER_SUBSCRIPTION_ID) == [f"PUT {_definition_id('published')}"]
    got = resources.resources.get_by_id(_definition_id("published"), api_version=SOLUTIONS_API_VERSION)
    props = got.properties
    shipped = json.loads((TEMPLATES / "mainTemplate.json").read_text())["contentVersion"]
    assert got.tags == {"version": shipped, "packageSha256": created.package_sha256}
    assert props["notificationPolicy"] == {
        "notificationEndpoints": [{"uri": f"{PUBLIC_URL}/notifications?sig={SECRET}"}]
    }
    assert created.notification_endpoint == f"{PUBLIC_URL}/notifications"
    assert props["authorizations"] == [
        {"principalId": publisher_object_id, "roleDefinitionId": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"}
    ]
    assert props["lockLevel"] == "ReadOnly"
    assert props["mainTemplate"] == json.loads((TEMPLATES / "mainTemplate.json").read_text())
    assert props["createUiDefinition"] == json.loads((TEMPLATES / "createUiDefinition.json").read_text())
    assert zip_path.read_bytes()[:2] == b"PK"

    mark = sandbox.mark()
    again = publish(settings, cred, package_path=zip_path, templates=templates)
    assert (again.action, again.changed, again.package_written) == ("unchanged", [], False)
    assert sandbox.arm_writes(mark, seed.PUBLISHER_SUBSCRIPTION_ID) == []

    main = json.loads((templates / "mainTemplate.json").read_text())
    main["contentVersion"] = "9.9.0.0"
    (templates / "mainTemplate.json").write_text(json.dumps(main, indent=2))
    mark = sandbox.mark()
    updated = publish(settings, cred, package_path=zip_path, templates=templates)
    assert updated.action == "updated"
    assert set(updated.changed) == {"mainTemplate", "tags.version", "tags.packageSha256"}
    assert updated.package_sha256 != created.package_sha256 and updated.package_written
    assert sandbox.arm_writes(mark, seed.PUBLISHER_SUBSCRIPTION_ID) == [f"PUT {_definition_id('published')}"]
    got = resources.resources.get_by_id(_definition_id("published"), api_version=SOLUTIONS_API_VERSION)
    assert got.tags["version"] == "9.9.0.0"
    assert got.properties["mainTemplate"]["contentVersion"] == "9.9.0.0"


def test_a_customer_deploys_from_the_published_definition_and_is_onboarded(
    sandbox: SandboxProcess, resources: ResourceManagementClient, publisher_object_id: str, tmp_path: Path
) -> None:
    settings = _settings(publisher_object_id, "published-sc")
    publish(settings, publisher_credential(settings), package_path=tmp_path / "app.zip")
    spec = load_customer_spec(
        {
            "name": "pubsc",
            "tenant_id": str(uuid.uuid4()),
            "subscription_id": str(uuid.uuid4()),
            "credential_source": "application-tokens",
            "managed_application": {
                "resource_group": "pubsc-app",
                "name": "pubsc-ama",
                "definition_id": _definition_id("published-sc"),
                "parameters": {"aks_name": "pubscaks", "node_resource_group": "pubsc-ama-aks-rg"},
            },
            "pod_identity": {"mode": "workload-identity", "namespace": "analytics"},
        }
    )
    register_customer(sandbox, spec)
    # Onboarding without the receiver: its Event Grid subscriptions would handshake with the unreachable URL.
    ctx = CustomerContext(spec, settings.model_copy(update={"receiver_public_url": None}))
    steps, _ = run_onboarding(ctx, dry_run=False)
    assert [s.step for s in steps][-1] == "verify_storage_access"
    app = ctx.resources.resources.get_by_id(ctx.application_id, api_version=SOLUTIONS_API_VERSION)
    assert app.properties["applicationDefinitionId"].lower() == _definition_id("published-sc").lower()

    def notified() -> list[tuple[str, str]]:
        attempts = [
            a
            for a in sandbox.admin("GET", "/notifications")["attempts"]
            if a["applicationId"].lower() == ctx.application_id.lower()
        ]
        assert {a["uri"] for a in attempts} == {f"{PUBLIC_URL}/notifications/resource"}
        pairs = sorted({(a["eventType"], a["provisioningState"]) for a in attempts})
        assert pairs == [("PUT", "Accepted"), ("PUT", "Succeeded")]
        return pairs

    eventually(notified)


def test_cli_publish_dry_run_writes_nothing_and_missing_settings_exit_2(
    sandbox: SandboxProcess, publisher_object_id: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARDING_PUBLISHER_")}
    env["ONBOARDING_APPLICATION_DEFINITION_ID"] = _definition_id("published-cli")

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "onboarding", "publish", "--package", str(tmp_path / "app.zip"), *args],
            cwd=REPO,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )

    refused = cli("--dry-run")
    assert refused.returncode == 2, refused.stderr
    assert "ONBOARDING_PUBLISHER_PRINCIPAL_ID" in refused.stderr
    no_secret = cli(
        "--dry-run",
        ONBOARDING_PUBLISHER_PRINCIPAL_ID=publisher_object_id,
        ONBOARDING_RECEIVER_PUBLIC_URL=PUBLIC_URL,
    )
    assert no_secret.returncode == 2 and "ONBOARDING_RECEIVER_NOTIFICATION_SECRET" in no_secret.stderr

    mark = sandbox.mark()
    planned = cli(
        "--dry-run",
        ONBOARDING_PUBLISHER_PRINCIPAL_ID=publisher_object_id,
        ONBOARDING_RECEIVER_PUBLIC_URL=PUBLIC_URL,
        ONBOARDING_RECEIVER_NOTIFICATION_SECRET=SECRET,
    )
    assert planned.returncode == 0, planned.stderr
    assert "would be created" in planned.stdout, planned.stdout
    assert f"notification endpoint: {PUBLIC_URL}/notifications\n" in planned.stdout
    assert SECRET not in planned.stdout + planned.stderr
    assert sandbox.arm_writes(mark, seed.PUBLISHER_SUBSCRIPTION_ID) == []
    assert not (tmp_path / "app.zip").exists()
