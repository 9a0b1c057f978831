"""reconcile-fleet through the real server and worker: one broken customer does not stop the other nine; a name
not in the worker's catalog fails the run naming it, before any cloud call."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from onboarding.catalog import load_catalog
from sandbox.client import SandboxProcess
from tests.chaos.prefect_runs import prefect_client, task_states
from tools.customers import register_customer
from tools.fleet_catalog import customer_document
from tools.stack import PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

NAMESPACE = uuid.UUID("8c0e5a6d-1f2b-4c3d-9e8f-7a6b5c4d3e2f")
BROKEN = "ten-010"


def _write_catalog(directory: Path, count: int) -> None:
    """Ten customers in the three catalog shapes, with names and ids of their own (other tests use fleet-*)."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(1, count + 1):
        text = yaml.safe_dump(customer_document(index, tenants=3)).replace("fleet-", "ten-")
        doc = yaml.safe_load(text)
        doc["subscription_id"] = str(uuid.uuid5(NAMESPACE, f"subscription-{index}"))
        doc["tenant_id"] = str(uuid.uuid5(NAMESPACE, f"tenant-{index % 3}"))
        (directory / f"{doc['name']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


async def _fleet_table() -> list[dict[str, object]]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["fleet-reconcile"]))
        )
    assert artifacts, "the fleet writes a table artifact"
    data = artifacts[-1].data
    return yaml.safe_load(data) if isinstance(data, str) else data


def test_fleet_of_ten_with_one_broken(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, worker_catalog: Path, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    _write_catalog(catalog, 10)
    specs = load_catalog(catalog)
    for spec in specs:
        if spec.name != BROKEN:  # never registered: its subscription does not exist in the cloud
            register_customer(sandbox, spec)
    added = [shutil.copy(path, worker_catalog) for path in catalog.glob("*.yaml")]

    name = "reconcile-fleet/nightly"
    started = time.monotonic()
    try:
        run = prefect_stack.run_deployments(
            [name], parameters={"customers": [s.name for s in specs]}, timeout_s=1500
        )[name]
    finally:
        for path in added:
            Path(path).unlink()
    print(f"\nfigure fleet_of_ten_wall {time.monotonic() - started:.0f} s from the run's creation to its end")
    assert run.state.is_failed(), "one customer failed, so the fleet run reports failure"
    assert BROKEN in (run.state.message or "")

    with prefect_stack.settings():
        rows = asyncio.run(_fleet_table())
    outcomes = {row["customer"]: row["outcome"] for row in rows}
    assert len(outcomes) == 10
    assert outcomes.pop(BROKEN) == "failed"
    assert set(outcomes.values()) == {"verified"}, outcomes
    broken_row = next(row for row in rows if row["customer"] == BROKEN)
    assert broken_row["reason"], "the failure is reported with its reason"


def test_an_unknown_name_fails_the_fleet_and_the_watcher_before_any_cloud_call(
    prefect_stack: PrefectStack,
) -> None:
    runs = prefect_stack.run_deployments(
        ["reconcile-fleet/nightly", "watch-node-pools/safety-net"],
        parameters={"customers": ["contoso", "contsoo"]},
    )
    for name, run in runs.items():
        assert run.state.is_failed(), name
        assert "no customer named 'contsoo'" in (run.state.message or ""), run.state.message
        assert "did you mean 'contoso'?" in (run.state.message or "")
        with prefect_client(prefect_stack) as client:
            assert task_states(client, run.id) == {}, f"{name}: no task (so no cloud call) ran"
