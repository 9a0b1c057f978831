"""One Prefect server per test session (real server subprocess, project deployments, one process worker)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from onboarding.settings import REPOSITORY_CATALOG
from sandbox.client import SandboxProcess
from tools.stack import PrefectStack

# Faster polling and retries for the fast sandbox profile; the product reads these like any setting.
TEST_SETTINGS = {
    "ONBOARDING_POLL_INTERVAL_S": "0.1",
    "ONBOARDING_RETRY_BASE_DELAY_S": "0.5",
    "ONBOARDING_RETRY_MAX_DELAY_S": "5",
    "ONBOARDING_PROPAGATION_BUDGET_S": "60",
    "ONBOARDING_PROBE_TIMEOUT_S": "60",
}


@pytest.fixture(scope="session")
def prefect_stack(
    sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectStack]:
    os.environ.update(TEST_SETTINGS)
    # The worker's catalog (what flow runs read customers from by name): the repository's, which tests may add to.
    catalog = tmp_path_factory.mktemp("catalog")
    for path in REPOSITORY_CATALOG.glob("*.yaml"):
        shutil.copy(path, catalog)
    env = {**sandbox.env, **TEST_SETTINGS, "ONBOARDING_CATALOG_DIR": str(catalog)}
    stack = PrefectStack(tmp_path_factory.mktemp("prefect"), extra_env=env)
    stack.start()
    stack.deploy(concurrency=8)
    stack.start_worker()
    os.environ["PREFECT_API_URL"] = stack.api_url
    _STARTED.append(stack)
    yield stack
    _STARTED.clear()
    stack.stop()


_STARTED: list[PrefectStack] = []


@pytest.fixture(scope="module", autouse=True)
def background_runs_finish() -> Iterator[None]:
    """After each e2e module, its triggered runs (events, automations) finish before the next module starts on
    this worker's shared sandbox and server."""
    yield
    for stack in _STARTED:
        assert stack.wait_until_idle(), "flow runs still pending or running 120 s after the module's tests"


@pytest.fixture(scope="session")
def worker_catalog(prefect_stack: PrefectStack) -> Path:
    """The catalog folder the stack's worker reads (ONBOARDING_CATALOG_DIR): a customer file written here is a
    customer flow runs know by name."""
    return Path(prefect_stack.extra_env["ONBOARDING_CATALOG_DIR"])
