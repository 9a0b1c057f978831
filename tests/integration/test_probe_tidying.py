"""Probe sweeps and cleanup never hide a failure nor let it replace the probe's outcome: what they cannot remove
is logged (what, why, that the next run retries); offboarding's lookups log what they found absent.
Against the sandbox's Kubernetes API in-process (a refused credential is a real 401 over the wire)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from onboarding.errors import PermanentError
from onboarding.kube.cleanup import find_owned
from onboarding.kube.probe_job import remove_probe_run, run_probe, sweep_stale_probes
from tests.integration.sandbox_kube_world import KubeWorld, start_world
from tests.unit.clusters import probe_request

pytestmark = pytest.mark.integration

STEP = "verify_storage_access"
REQUEST = probe_request(namespace="default")


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeWorld]:
    world = start_world(tmp_path_factory.mktemp("probe-tidying"))
    world.add_cluster()
    yield world
    world.stop()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_removing_a_run_that_is_gone_is_quiet(kw: KubeWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="onboarding")
    api = kw.api_client()
    assert remove_probe_run(
        api, run="ama-storage-probe-gone", namespace="default", customer="acme", step=STEP
    )
    assert sweep_stale_probes(api, namespace="default", customer="acme", step=STEP) == []
    assert _warnings(caplog) == []


def test_a_sweep_or_cleanup_that_fails_is_logged_not_raised(
    kw: KubeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onboarding")
    refused = kw.api_client("not-a-token")
    assert sweep_stale_probes(refused, namespace="default", customer="acme", step=STEP) == []
    assert not remove_probe_run(
        refused, run="ama-storage-probe-x", namespace="default", customer="acme", step=STEP
    )
    listed, removed = _warnings(caplog)
    print(f"\n{listed}\n{removed}")
    for line in (listed, removed):
        assert line.startswith(
            "not cleaned up now, the next probe run's sweep retries it: customer 'acme' step"
        )
        assert "Kubernetes API answered 401 Unauthorized" in line and "not-a-token" not in line
    assert "list earlier probe runs in default" in listed
    assert "remove probe run default/ama-storage-probe-x (Job, pods, ConfigMap)" in removed


def test_a_failed_cleanup_does_not_replace_the_probes_own_error(
    kw: KubeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onboarding")
    with pytest.raises(PermanentError) as err:
        run_probe(kw.api_client("not-a-token"), REQUEST, customer="acme", step=STEP, run_id="refused")
    assert "create probe ConfigMap default/ama-storage-probe-refused" in str(err.value)
    warnings = _warnings(caplog)
    assert len(warnings) == 3, warnings  # the sweep before, the run's own cleanup, the sweep after
    assert any("remove probe run default/ama-storage-probe-refused" in w for w in warnings)


def test_offboarding_lookup_logs_a_kind_the_cluster_does_not_serve(
    kw: KubeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onboarding")
    assert find_owned(kw.api_client(), customer="acme", step="offboard") == []
    lines = [r.getMessage() for r in caplog.records if r.name == "onboarding.kube.cleanup"]
    assert any("no AzureIdentity objects" in line and "CRD not installed" in line for line in lines), lines
