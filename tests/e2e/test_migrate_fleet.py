"""migrate-fleet through the real server and worker, on one fleet of ten aad-pod-identity customers (onboarded
once for the module, managed and standard mode in turn): a failing canary stops the rollout with the other
customers untouched; a dry run writes nothing; a run whose process is killed mid-way (SIGKILL, in wave 1)
and run again redoes no customer it had finished (no ARM or Kubernetes write in their subscriptions and
clusters, so no probe pod either); a run after that writes nothing at all.

The tests run in order on the same fleet: each starts from where the one before left it."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from kubernetes.client import CoreV1Api
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.client.schemas.objects import FlowRun

from onboarding.context import CustomerContext
from onboarding.kube.kubeconfig import customer_cluster
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.pipeline import run_onboarding
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from sandbox.client import SandboxProcess
from tests.chaos.prefect_runs import prefect_client, task_states
from tools.customers import register_customer
from tools.fleet_catalog import customer_document
from tools.stack import FINAL_STATES, PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

NAMESPACE = uuid.UUID("5b8e2f0a-3c1d-4e6f-8a9b-0c1d2e3f4a5b")
DEPLOYMENT = "migrate-fleet/manual"
RUN_TIMEOUT_S = 900.0
CLUSTER_UPDATE_S = 20.0
# An Azure Policy deny assignment on the broken canary's subscription: every ARM write there answers 403 (the
# error ARM gives a write a policy denies), so its migration fails at its first write and changes nothing.
POLICY_DENY = {
    "status": 403,
    "method": "PUT",
    "code": "RequestDisallowedByPolicy",
    "message": "Resource was disallowed by policy (injected by the test).",
    "count": 1000,
}


def _documents(count: int) -> list[dict[str, Any]]:
    """``count`` customers of the generated catalog's two aad-pod-identity shapes (index % 3 == 0: managed mode,
    1: standard mode), with names and ids of their own (other tests use fleet-* and ten-*)."""
    docs = []
    for index in [i for i in range(1, 2 * count) if i % 3 != 2][:count]:
        doc = yaml.safe_load(yaml.safe_dump(customer_document(index, tenants=3)).replace("fleet-", "mig-"))
        doc["subscription_id"] = str(uuid.uuid5(NAMESPACE, f"subscription-{index}"))
        doc["tenant_id"] = str(uuid.uuid5(NAMESPACE, f"tenant-{index % 3}"))
        docs.append(doc)
    return docs


def _onboard(spec: CustomerSpec) -> None:
    run_onboarding(CustomerContext(spec, Settings()), dry_run=False)


@pytest.fixture(scope="module")
def fleet(sandbox: SandboxProcess, worker_catalog: Path) -> Iterator[list[CustomerSpec]]:
    """Ten onboarded aad-pod-identity customers in the worker's catalog (onboarded here, in parallel, without
    Prefect: the module is about the migration)."""
    docs = _documents(10)
    specs = [load_customer_spec(doc) for doc in docs]
    for spec in specs:
        register_customer(sandbox, spec)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(_onboard, specs))
    print(f"\n# fleet of {len(specs)} onboarded in {time.monotonic() - started:.0f} s")
    paths = [worker_catalog / f"{doc['name']}.yaml" for doc in docs]
    for path, doc in zip(paths, docs, strict=True):
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    yield specs
    for path in paths:
        path.unlink()


def _parameters(fleet: list[CustomerSpec], **more: Any) -> dict[str, Any]:
    return {
        "customers": [s.name for s in fleet],
        "canary": [s.name for s in fleet[:2]],
        "wave_size": 4,
        "max_failure_rate": 0.25,
        **more,
    }


def _start(stack: PrefectStack, parameters: dict[str, Any]) -> UUID:
    with prefect_client(stack) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        return client.create_flow_run_from_deployment(deployment.id, parameters=parameters).id


def _wait(stack: PrefectStack, run_id: UUID) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with prefect_client(stack) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            if run.state and run.state.type.value in FINAL_STATES:
                return run
            time.sleep(1.0)
    raise TimeoutError(f"{DEPLOYMENT} run {run_id} not finished within {RUN_TIMEOUT_S:g} s")


def _migrate(stack: PrefectStack, parameters: dict[str, Any]) -> tuple[FlowRun, dict[str, dict[str, Any]]]:
    """One migrate-fleet run to its end: the run and its fleet table's rows by customer."""
    started = time.monotonic()
    run = _wait(stack, _start(stack, parameters))
    print(
        f"\n# {DEPLOYMENT} ({'plan' if parameters.get('dry_run', True) else 'apply'}): {run.state_name} "
        f"in {time.monotonic() - started:.0f} s"
    )
    data = _artifact(stack, run.id, "fleet-migration")
    rows: list[dict[str, Any]] = yaml.safe_load(data) if isinstance(data, str) else data
    return run, {row["customer"]: row for row in rows}


def _artifact(stack: PrefectStack, run_id: UUID, key: str) -> Any:
    with prefect_client(stack) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
            )
        )
    assert len(artifacts) == 1, f"the run writes one {key} artifact"
    return artifacts[0].data


def _writes_by_customer(sandbox: SandboxProcess, mark: int, fleet: list[CustomerSpec]) -> dict[str, int]:
    """ARM writes ARM served (not refused) since ``mark`` in each customer's subscription (other tests' runs
    share the sandbox)."""
    writes = [
        e["path"].lower() for e in sandbox.requests_log(mark) if e["kind"] == "write" and e["status"] < 400
    ]
    return {
        s.name: sum(p.startswith(f"/subscriptions/{s.subscription_id.lower()}/") for p in writes)
        for s in fleet
    }


def test_a_failing_canary_stops_the_rollout_and_leaves_the_others_untouched(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, fleet: list[CustomerSpec]
) -> None:
    good, broken = fleet[0], fleet[1]
    sandbox.set_faults([{**POLICY_DENY, "path": f"^/subscriptions/{broken.subscription_id}/"}])
    mark, revisions = sandbox.mark(), _cluster_revisions(fleet[2:])
    try:
        run, rows = _migrate(prefect_stack, _parameters(fleet, dry_run=False))
    finally:
        sandbox.clear_faults()
    assert run.state and run.state.is_failed()
    assert f"the canary wave failed for {broken.name}" in (run.state.message or ""), run.state.message
    assert rows[good.name]["state"] == "migrated" and rows[good.name]["wave"] == 0
    assert rows[broken.name]["state"] == "failed" and rows[broken.name]["wave"] == 0
    assert "RequestDisallowedByPolicy" in rows[broken.name]["error"]
    summary = _artifact(prefect_stack, run.id, "fleet-migration-summary")
    assert f"**Stopped:** the canary wave failed for {broken.name}: 1 of 2 (50%, more than 0%)" in summary
    others = fleet[2:]
    assert {rows[s.name]["state"] for s in others} == {"not-started"}
    assert [rows[s.name]["wave"] for s in others] == [1, 1, 1, 1, 2, 2, 2, 2]
    writes = _writes_by_customer(sandbox, mark, fleet)
    assert writes[good.name] > 0
    assert writes[broken.name] == 0, "its write was refused: nothing changed"
    assert {writes[s.name] for s in others} == {0}, writes
    assert _cluster_revisions(others) == revisions, "no Kubernetes write in the others' clusters"
    with prefect_client(prefect_stack) as client:
        ran = set(task_states(client, run.id))
    assert not {f"migrate-{s.name}" for s in others} & ran, "no task of a later wave ran"


def test_the_run_form_offers_every_parameter_with_a_dry_run_by_default(prefect_stack: PrefectStack) -> None:
    with prefect_client(prefect_stack) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
    form = deployment.parameter_openapi_schema or {}
    fields = form["properties"]
    assert list(fields) == ["customers", "canary", "wave_size", "max_failure_rate", "dry_run"]
    assert fields["dry_run"]["default"] is True
    assert all(field.get("description") for field in fields.values()), fields
    assert deployment.enforce_parameter_schema and not deployment.schedules


def test_a_dry_run_plans_every_customer_and_writes_nothing(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, fleet: list[CustomerSpec]
) -> None:
    mark = sandbox.mark()
    run, rows = _migrate(prefect_stack, _parameters(fleet))
    assert run.state and run.state.is_completed(), run.state
    done = fleet[0].name  # the canary the first test migrated
    assert rows.pop(done)["state"] == "already-migrated", "a plan shows who is done"
    assert {row["state"] for row in rows.values()} == {"planned"}
    assert [rows[s.name]["wave"] for s in fleet[1:]] == [0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert set(_writes_by_customer(sandbox, mark, fleet).values()) == {0}


def test_a_crashed_rollout_resumes_without_redoing_finished_customers(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, fleet: list[CustomerSpec]
) -> None:
    parameters = _parameters(fleet, dry_run=False)
    canary, wave_1 = {s.name for s in fleet[:2]}, fleet[2:6]
    # Slow cluster updates, so that the kill at wave 1's first write lands while its migrations wait on them.
    sandbox.set_timing(cluster_update_s=CLUSTER_UPDATE_S)
    try:
        crashed = _kill_at_first_write(sandbox, prefect_stack, parameters, wave_1)
    finally:
        sandbox.reset_timing()
    assert crashed.state and crashed.state.is_crashed(), crashed.state
    with prefect_client(prefect_stack) as client:
        states = task_states(client, crashed.id)
    assert {f"migrate-{s.name}" for s in fleet[6:]}.isdisjoint(states), "wave 2 never started"
    assert "COMPLETED" not in {states.get(f"migrate-{s.name}") for s in wave_1}, "wave 1 was cut off half-way"

    mark, revisions = sandbox.mark(), _cluster_revisions(fleet)
    run, rows = _migrate(prefect_stack, parameters)
    assert run.state and run.state.is_completed(), run.state.message if run.state else run
    assert {name: row["state"] for name, row in rows.items() if name in canary} == dict.fromkeys(
        canary, "already-migrated"
    )
    assert {row["state"] for name, row in rows.items() if name not in canary} == {"migrated"}
    writes = _writes_by_customer(sandbox, mark, fleet)
    assert {writes[name] for name in canary} == {0}, f"a finished customer was redone: {writes}"
    after = _cluster_revisions(fleet)
    assert {n: after[n] for n in canary} == {n: revisions[n] for n in canary}, "no Kubernetes write, no probe"

    mark = sandbox.mark()
    again, rows = _migrate(prefect_stack, parameters)
    assert again.state and again.state.is_completed()
    assert {row["state"] for row in rows.values()} == {"already-migrated"}
    assert set(_writes_by_customer(sandbox, mark, fleet).values()) == {0}
    assert _cluster_revisions(fleet) == after


def _cluster_revisions(fleet: list[CustomerSpec]) -> dict[str, str]:
    """Each customer's cluster's resourceVersion as a list returns it: the revision of the cluster's whole store,
    which every Kubernetes write moves (a probe pod's too)."""
    revisions = {}
    for spec in fleet:
        ctx = CustomerContext(spec, Settings())
        with customer_cluster(ctx, discover_cluster(ctx), step="test") as access:
            revisions[spec.name] = str(CoreV1Api(access.api).list_namespace().metadata.resource_version)
    return revisions


def _kill_at_first_write(
    sandbox: SandboxProcess, stack: PrefectStack, parameters: dict[str, Any], wave: list[CustomerSpec]
) -> FlowRun:
    """Start a run and SIGKILL its process (as a node dies) at the first ARM write in one of ``wave``'s
    subscriptions: the waves before it have ended, ``wave`` is under way. Returns the run once Prefect has
    seen the crash."""
    prefixes = tuple(f"/subscriptions/{s.subscription_id}/" for s in wave)
    mark = sandbox.mark()
    run_id = _start(stack, parameters)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not any(
        e["kind"] == "write" and e["path"].startswith(prefixes) for e in sandbox.requests_log(mark)
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no write for {[s.name for s in wave]} within {RUN_TIMEOUT_S:g} s")
        time.sleep(0.2)
    with prefect_client(stack) as client:
        pid = client.read_flow_run(run_id).infrastructure_pid
    assert pid, "the process worker records the run's process id"
    os.kill(int(pid.rsplit(":", 1)[-1]), signal.SIGKILL)
    return _wait(stack, run_id)
