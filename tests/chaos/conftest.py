"""Chaos suite fixtures: one sandbox dedicated to this package (its faults, timing and lockdowns never reach the
session sandbox other tests use), reset after every module, and the product's settings pointed at it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from onboarding.settings import get_settings
from sandbox.client import SandboxProcess
from tools.fleet_catalog import write_fleet_catalog
from tools.stack import WORK_POOL, PrefectStack

from .prefect_runs import FLEET_DEPLOYMENT

REPO = Path(__file__).resolve().parents[2]
# The generated fleet customers the chaos modules use (``fleet_specs``, ``trial_specs``: indexes below this), all in
# the catalog flow runs read them from by name.
CATALOG_SIZE = 200

# Fast polling and retries for the fast profile; the product reads them like any setting (ONBOARDING_*).
CHAOS_SETTINGS = {
    "ONBOARDING_POLL_INTERVAL_S": "0.1",
    "ONBOARDING_RETRY_BASE_DELAY_S": "0.2",
    "ONBOARDING_RETRY_MAX_DELAY_S": "2",
    "ONBOARDING_PROPAGATION_BUDGET_S": "30",
    "ONBOARDING_PROBE_TIMEOUT_S": "60",
    "ONBOARDING_DEPLOYMENT_TIMEOUT_S": "120",
    "ONBOARDING_HELM_STALE_LOCK_S": "5",
    "ONBOARDING_HELM_EXECUTABLE": shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm"),
}


def product_env(box: SandboxProcess) -> dict[str, str]:
    """The sandbox's settings for the product, with the publisher's client secret in a 0600 file
    (ONBOARDING_CLIENT_SECRET_FILE) instead of the environment, which Prefect's workers copy to disk, and the
    generated fleet catalog as ONBOARDING_CATALOG_DIR."""
    secret_file = box.state_dir / "publisher-client-secret"
    if not secret_file.exists():
        secret_file.touch(mode=0o600)
        secret_file.write_text(box.env["AZURE_CLIENT_SECRET"])
    catalog = box.state_dir / "catalog"
    if not catalog.exists():
        write_fleet_catalog(catalog, CATALOG_SIZE, tenants=5)
    env = {k: v for k, v in box.env.items() if k != "AZURE_CLIENT_SECRET"}
    return {
        **env,
        **CHAOS_SETTINGS,
        "ONBOARDING_CLIENT_SECRET_FILE": str(secret_file),
        "ONBOARDING_CATALOG_DIR": str(catalog),
    }


@pytest.fixture(scope="package")
def chaos_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    box = SandboxProcess(tmp_path_factory.mktemp("chaos-sandbox"), profile="fast")
    try:
        box.start()
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv(
                "AZURE_CLIENT_SECRET", raising=False
            )  # another sandbox's, if the session one was applied
            for key, value in product_env(box).items():
                mp.setenv(key, value)
            get_settings.cache_clear()
            yield box
    finally:
        get_settings.cache_clear()
        box.stop()


@pytest.fixture(scope="module", autouse=True)
def _reset_chaos_box(chaos_box: SandboxProcess) -> Iterator[None]:
    """Every module starts and ends with no fault rules and the profile's own timing."""
    chaos_box.clear_faults()
    chaos_box.reset_timing()
    yield
    chaos_box.clear_faults()
    chaos_box.reset_timing()


@pytest.fixture(scope="package")
def chaos_stack(
    chaos_box: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectStack]:
    """A Prefect server with only the ``onboard-customer/fleet`` deployment (any catalog customer by name) and no
    worker: tests start and kill workers themselves. Workers and flow runs get their own TMPDIR (``home/tmp``) so
    what they leave on disk can be inspected."""
    home = tmp_path_factory.mktemp("chaos-prefect")
    (home / "tmp").mkdir()
    env = {**product_env(chaos_box), "TMPDIR": str(home / "tmp")}
    stack = PrefectStack(home, extra_env=env)
    try:
        stack.start()
        stack.run_cli("work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
        stack.run_cli("--no-prompt", "deploy", "--name", FLEET_DEPLOYMENT)
        yield stack
    finally:
        stack.stop()
