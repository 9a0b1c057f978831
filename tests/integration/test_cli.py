"""The command line as an operator runs it: `python -m onboarding` as a subprocess, with the settings the flows read
(ONBOARDING_CATALOG_DIR), the exit statuses `--help` promises, helm found without make's PATH, and the README's
"A customer of your own in the sandbox" run as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from onboarding.context import CustomerContext
from onboarding.models import load_customer_spec
from onboarding.pipeline import run_onboarding
from onboarding.settings import REPOSITORY_CATALOG, Settings
from sandbox.client import SandboxProcess
from tools.customers import register_customer

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("cli")]

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# Quick polling for the fast profile; everything else comes from the sandbox's settings in the environment.
FAST = {
    "ONBOARDING_POLL_INTERVAL_S": "0.1",
    "ONBOARDING_RETRY_BASE_DELAY_S": "0.1",
    "ONBOARDING_RETRY_MAX_DELAY_S": "0.5",
    "ONBOARDING_PROPAGATION_BUDGET_S": "60",
    "ONBOARDING_DEPLOYMENT_TIMEOUT_S": "120",
    "ONBOARDING_PROBE_TIMEOUT_S": "120",
}


def _path_without_make_tools() -> str:
    """PATH as a plain shell has it: no .tools/bin (make puts it first) and no helm anywhere."""
    kept = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and ".tools" not in p]
    path = os.pathsep.join(kept)
    assert shutil.which("helm", path=path) is None, "this test needs a PATH without helm"
    return path


def cli(*args: str, catalog: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ONBOARDING_CATALOG_DIR", "ONBOARDING_HELM_EXECUTABLE")
    }
    environ.update(FAST, PATH=_path_without_make_tools(), **env)
    if catalog is not None:
        environ["ONBOARDING_CATALOG_DIR"] = str(catalog)
    return subprocess.run(
        [sys.executable, "-m", "onboarding", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _catalog_of(directory: Path, *docs: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (directory / f"{doc['name']}.yaml").write_text(yaml.safe_dump(doc))
    return directory


def test_the_catalog_comes_from_onboarding_catalog_dir_and_invalid_input_exits_2(tmp_path: Path) -> None:
    doc = yaml.safe_load((REPOSITORY_CATALOG / "contoso.yaml").read_text())
    catalog = _catalog_of(tmp_path / "catalog", {**doc, "name": "solo"})
    listed = cli("validate", catalog=catalog)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[-1] == "1 customers valid", listed.stdout
    for command in (["plan", "nobody"], ["audit", "nobody"], ["offboard", "nobody"], ["onboard", "nobody"]):
        refused = cli(*command, catalog=catalog)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        assert f"no customer named 'nobody' in the catalog {catalog}" in refused.stderr
        assert f"add {catalog / 'nobody.yaml'}" in refused.stderr, refused.stderr
    typo = cli("status", "solo", "sollo", "nobody", catalog=catalog)
    assert typo.returncode == 2, typo.stderr
    assert f"no customer named 'sollo', 'nobody' in the catalog {catalog}" in typo.stderr, typo.stderr
    assert "'sollo': did you mean 'solo'?" in typo.stderr
    assert cli("plan", catalog=catalog).returncode == 2, "a missing argument is a command line error"
    wrong = cli("validate", catalog=catalog, ONBOARDING_POLL_INTERVAL_S="soon")
    assert wrong.returncode == 2 and "invalid settings: ONBOARDING_POLL_INTERVAL_S" in wrong.stderr

    lines = (REPOSITORY_CATALOG / "contoso.yaml").read_text().splitlines()
    at = lines.index("tenant_id: 7c1f4f7e-3a4b-4c55-9a1e-0c2d7f1a1001")
    twice = tmp_path / "twice"
    twice.mkdir()
    (twice / "contoso.yaml").write_text("\n".join([*lines, lines[at].replace("1001", "1999")]) + "\n")
    refused = cli("plan", "contoso", catalog=twice)
    assert refused.returncode == 2, refused.stderr
    assert (
        f"invalid: customer 'contoso': {twice / 'contoso.yaml'}: key 'tenant_id' is written twice, "
        f"on lines {at + 1} and {len(lines) + 1}"
    ) in refused.stderr


def _readme_section() -> str:
    text = README.read_text()
    start = text.index("### A customer of your own in the sandbox")
    end = re.compile(r"^##+ ", re.M).search(text, start + 1)
    return text[start : end.start() if end else None]


def test_readme_customer_plans_and_onboards_from_a_plain_shell(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    """The README's admin API request and catalog entry, as written: `plan` then `onboard` (aad-pod-identity: helm,
    found without make's PATH), then a second `onboard` that writes nothing."""
    section = _readme_section()
    body = json.loads(re.search(r"-d '(\{.*?\})'", section, re.S).group(1))  # type: ignore[union-attr]
    entry = re.search(r"```yaml\n(# acme\.yaml\n.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    created = sandbox.add_customer(**body)
    assert created["application_resource_group"] == "acme-app"
    catalog = tmp_path / "my-catalog"
    catalog.mkdir()
    (catalog / "acme.yaml").write_text(entry)

    mark = sandbox.mark()
    planned = cli("plan", "acme", catalog=catalog)
    assert planned.returncode == 0, planned.stderr
    assert "create managed application acme-ama (ServiceCatalog)" in planned.stdout, planned.stdout
    assert sandbox.arm_writes(mark, created["subscription_id"]) == []

    onboarded = cli("onboard", "acme", catalog=catalog)
    assert onboarded.returncode == 0, onboarded.stderr
    assert onboarded.stdout.splitlines()[0].endswith("**verified**"), onboarded.stdout
    assert re.search(r"helm release \S+ \(chart aad-pod-identity [^)]+\): installed", onboarded.stdout)

    mark = sandbox.mark()
    again = cli("onboard", "acme", catalog=catalog)
    assert again.returncode == 0, again.stderr
    assert sandbox.arm_writes(mark, created["subscription_id"]) == []


def test_workload_identity_offboarding_needs_no_helm(sandbox: SandboxProcess, tmp_path: Path) -> None:
    spec = load_customer_spec(
        {
            "name": "cliwi",
            "tenant_id": str(uuid.uuid4()),
            "subscription_id": str(uuid.uuid4()),
            "managed_application": {
                "resource_group": "cliwi-app",
                "name": "cliwi-ama",
                "adopt_only": True,
                "plan": {
                    "name": "aks",
                    "publisher": "sandbox-publisher",
                    "product": "ama-aks",
                    "version": "1.0.0",
                },
                "parameters": {"aks_name": "cliwiaks", "node_resource_group": "cliwi-ama-aks-rg"},
            },
            "pod_identity": {"mode": "workload-identity", "namespace": "analytics"},
        }
    )
    register_customer(sandbox, spec)
    settings = Settings(**{k.removeprefix("ONBOARDING_").lower(): v for k, v in FAST.items()})  # type: ignore[arg-type]
    run_onboarding(CustomerContext(spec, settings), dry_run=False)
    catalog = _catalog_of(tmp_path / "catalog", spec.model_dump(mode="json", exclude_none=True))

    offboarded = cli(
        "offboard", "cliwi", "--apply", catalog=catalog, ONBOARDING_HELM_EXECUTABLE="/nowhere/helm"
    )
    assert offboarded.returncode == 0, offboarded.stderr
    assert "deleted ServiceAccount analytics/" in offboarded.stdout, offboarded.stdout
    assert "helm" not in offboarded.stdout, offboarded.stdout
