"""The event path with a real server and worker: the watcher's events trigger attach-node-pool runs."""

from __future__ import annotations

import time

import pytest

from onboarding.catalog import find_customer
from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tools.cloud_actions import add_agent_pool, cluster_id, scale_set_identities, wait_for
from tools.customers import register_customer
from tools.stack import PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

WATCH = "watch-node-pools/safety-net"
APP_IDENTITY = "/fabrikamaks-identity"


@pytest.fixture(scope="module")
def fabrikam(sandbox: SandboxProcess, prefect_stack: PrefectStack) -> CustomerSpec:
    spec = find_customer("fabrikam")
    register_customer(sandbox, spec)
    run = prefect_stack.run_deployments(["onboard-customer/fabrikam"])["onboard-customer/fabrikam"]
    assert run.state.is_completed(), run.state.message
    return spec


def _has_app_identity(sandbox: SandboxProcess, spec: CustomerSpec, vmss_prefix: str) -> bool:
    found = scale_set_identities(sandbox, spec)
    return any(
        name.startswith(vmss_prefix) and any(i.endswith(APP_IDENTITY) for i in ids)
        for name, ids in found.items()
    )


def test_new_agent_pool_gets_the_identity(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, fabrikam: CustomerSpec
) -> None:
    add_agent_pool(sandbox, fabrikam, "batch")
    added = time.monotonic()
    assert not _has_app_identity(sandbox, fabrikam, "aks-batch-")
    watch = prefect_stack.run_deployments([WATCH])[WATCH]
    assert watch.state.is_completed(), watch.state.message
    wait_for(lambda: _has_app_identity(sandbox, fabrikam, "aks-batch-"), timeout_s=180)
    print(f"\nfigure agent_pool_to_identity {time.monotonic() - added:.1f} s (watch run started at once)")


def test_upgrade_drift_is_repaired(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, fabrikam: CustomerSpec
) -> None:
    sandbox.upgrade_cluster(cluster_id(fabrikam))
    drifted = time.monotonic()
    assert not _has_app_identity(sandbox, fabrikam, "aks-nodepool1-")
    watch = prefect_stack.run_deployments([WATCH])[WATCH]
    assert watch.state.is_completed(), watch.state.message
    wait_for(lambda: _has_app_identity(sandbox, fabrikam, "aks-nodepool1-"), timeout_s=180)
    print(f"\nfigure drift_to_identity {time.monotonic() - drifted:.1f} s (watch run started at once)")
