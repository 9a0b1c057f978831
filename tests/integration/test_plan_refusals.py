"""Issue 18 item 2: the plan says when it cannot know. Only ARM's ``ResourceNotFound`` of the application plans a
creation; an unknown subscription, a missing resource group or a refused read is a refusal with what to do, from
the plan function and from ``python -m onboarding plan`` (a subprocess, exit status 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from onboarding.context import CustomerContext
from onboarding.errors import PermanentError
from onboarding.models import load_customer_spec
from onboarding.pipeline import run_onboarding
from onboarding.settings import Settings
from sandbox.client import SandboxProcess

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _raw(name: str, subscription_id: str, tenant_id: str, resource_group: str) -> dict[str, Any]:
    return {
        "name": name,
        "tenant_id": tenant_id,
        "subscription_id": subscription_id,
        "location": "westeurope",
        "managed_application": {
            "resource_group": resource_group,
            "name": f"{name}-ama",
            "parameters": {"aks_name": f"{name}aks", "node_resource_group": f"{name}-ama-aks-rg"},
        },
    }


def _principal_env(sandbox: SandboxProcess, roles: list[dict[str, str]]) -> dict[str, str]:
    """A principal of the publisher's tenant holding only ``roles``, as AZURE_* variables."""
    found = sandbox.add_principal(roles=roles)
    return {"AZURE_CLIENT_ID": found["client_id"], "AZURE_CLIENT_SECRET": found["secret"]}


def _cases(sandbox: SandboxProcess) -> dict[str, tuple[dict[str, Any], dict[str, str], str, str]]:
    """name -> (spec, principal env, ARM's code, a phrase of what to do)."""
    known = sandbox.add_customer(
        name="planrefusals", tenant_id=str(uuid.uuid4()), subscription_id=str(uuid.uuid4())
    )
    sub, tenant, app_rg = known["subscription_id"], known["tenant_id"], known["application_resource_group"]
    reader = _principal_env(sandbox, [{"scope": f"/subscriptions/{sub}", "role": "Reader"}])
    return {
        "unknown-subscription": (
            _raw("unknownsub", str(uuid.uuid4()), tenant, app_rg),
            {},
            "SubscriptionNotFound",
            "check subscription_id and tenant_id in the customer spec",
        ),
        "missing-resource-group": (
            _raw("missingrg", sub, tenant, "no-such-rg"),
            reader,
            "ResourceGroupNotFound",
            "the resource group does not exist",
        ),
        "publisher-may-not-read": (
            _raw("noaccess", sub, tenant, app_rg),
            _principal_env(sandbox, []),
            "AuthorizationFailed",
            "ask the customer to give the publisher a role there",
        ),
        "missing-resource-group-as-publisher": (
            _raw("missingrgpub", sub, tenant, "no-such-rg"),
            {},
            "AuthorizationFailed",
            "or it does not exist: ARM checks access first",
        ),
    }


@pytest.fixture(scope="module")
def cases(sandbox: SandboxProcess) -> dict[str, tuple[dict[str, Any], dict[str, str], str, str]]:
    return _cases(sandbox)


CASE_IDS = [
    "unknown-subscription",
    "missing-resource-group",
    "publisher-may-not-read",
    "missing-resource-group-as-publisher",
]


@pytest.mark.parametrize("case", CASE_IDS)
def test_plan_function_refuses(
    sandbox: SandboxProcess, cases: dict[str, Any], case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, env, code, advice = cases[case]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    mark = sandbox.mark()
    with pytest.raises(PermanentError) as info:
        run_onboarding(CustomerContext(load_customer_spec(raw), Settings()), dry_run=True)
    text = str(info.value)
    assert info.value.code == code, text
    assert text.startswith(f"customer '{raw['name']}' step ensure_managed_app: read managed application"), (
        text
    )
    assert advice in text, text
    assert sandbox.arm_writes(mark, raw["subscription_id"]) == []


@pytest.mark.parametrize("case", CASE_IDS)
def test_plan_command_exits_non_zero_with_the_refusal(
    sandbox: SandboxProcess, cases: dict[str, Any], case: str, tmp_path: Path
) -> None:
    raw, env, code, advice = cases[case]
    (tmp_path / f"{raw['name']}.yaml").write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [sys.executable, "-m", "onboarding", "plan", raw["name"], "--catalog", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, **sandbox.env, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "would create managed application" not in done.stdout
    assert done.stderr.startswith(f"error: customer '{raw['name']}' step ensure_managed_app: "), done.stderr
    assert code in done.stderr and advice in done.stderr, done.stderr


def test_a_missing_application_is_still_planned(sandbox: SandboxProcess, cases: dict[str, Any]) -> None:
    """The one 404 that means "no application": ResourceNotFound in a resource group the publisher may read."""
    raw = cases["publisher-may-not-read"][0]
    spec = load_customer_spec({**raw, "name": "planned"})
    steps, cluster = run_onboarding(CustomerContext(spec, Settings()), dry_run=True)
    assert cluster is None
    assert steps[0].details["exists"] is False
    assert steps[0].changed[0].startswith("would create managed application noaccess-ama")
