"""A customer through the real Prefect server and a process worker, started as the UI's Run button does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from onboarding.catalog import find_customer
from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tasks.onboarded_event import last_verification
from tests.chaos.prefect_runs import prefect_client, task_states
from tools.cloud_actions import cluster_id, scale_set_identities, wait_for
from tools.customers import register_customer
from tools.stack import PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

DEPLOYMENT = "onboard-customer/contoso"
OPERATIONS = ("refresh-permissions", "verify-storage", "audit-role-assignments", "offboard-customer")


@pytest.fixture(scope="module")
def contoso(sandbox: SandboxProcess) -> CustomerSpec:
    spec = find_customer("contoso")
    register_customer(sandbox, spec)
    return spec


async def _artifacts(flow_run_id: object, kind: str) -> list[Any]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return [a.data for a in artifacts if a.type == kind]


def _report(stack: PrefectStack, flow_run_id: object) -> str:
    with stack.settings():
        return "\n".join(str(data) for data in asyncio.run(_artifacts(flow_run_id, "markdown")))


@pytest.fixture(scope="module")
def onboarded(sandbox: SandboxProcess, prefect_stack: PrefectStack, contoso: CustomerSpec) -> Any:
    """Contoso's first onboarding, from nothing, through its deployment: the finished flow run."""
    assert scale_set_identities(sandbox, contoso) == {}, (
        "nothing deployed yet: onboarding deploys the application"
    )
    mark = sandbox.mark()
    run = prefect_stack.run_deployments([DEPLOYMENT])[DEPLOYMENT]
    assert run.state.is_completed(), run.state.message
    assert sandbox.arm_writes(mark, contoso.subscription_id), "a fresh onboarding writes"
    print("\n" + sandbox.arm_figure("fresh_onboarding", mark))
    return run


def test_customer_from_nothing_to_verified_then_nothing_to_do(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, contoso: CustomerSpec, onboarded: Any
) -> None:
    report = _report(prefect_stack, onboarded.id)
    assert "**verified**" in report
    assert "| aks-nodepool1-" in report and "contosoaks-identity" in report, "identities per scale set"
    assert "Storage listing read from pod" in report and "- `folder1/t1.csv`" in report
    wait_for(
        lambda: not last_verification("contoso", prefect_stack.api_url).startswith("never"), timeout_s=60
    )

    state = sandbox.state()
    cluster = next(r for r in state["resources"] if r["id"].lower() == cluster_id(contoso).lower())
    kubelet = cluster["properties"]["identityProfile"]["kubeletidentity"]["resourceId"].lower()
    for name, identities in scale_set_identities(sandbox, contoso).items():
        assert kubelet in identities, f"{name} lost the kubelet identity"
        assert any(i.endswith("/contosoaks-identity") for i in identities), f"{name} lacks the app identity"

    mark = sandbox.mark()
    again = prefect_stack.run_deployments([DEPLOYMENT])[DEPLOYMENT]
    assert again.state.is_completed(), again.state.message
    assert sandbox.arm_writes(mark, contoso.subscription_id) == [], (
        "re-running a finished customer writes nothing"
    )
    print("\n" + sandbox.arm_figure("rerun_onboarding", mark))


def test_operations_run_from_their_manual_deployments(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, onboarded: Any
) -> None:
    names = [f"{flow}/manual" for flow in OPERATIONS]
    mark = sandbox.mark()
    runs = prefect_stack.run_deployments(names, parameters={"customer": "contoso"})
    for name, run in runs.items():
        assert run.state.is_completed(), f"{name}: {run.state.message}"
    writes = sandbox.arm_writes(mark, find_customer("contoso").subscription_id)
    assert all(w.startswith("POST ") and w.endswith("/refreshPermissions") for w in writes), (
        f"only refresh-permissions writes (offboarding defaults to a plan): {writes}"
    )
    with prefect_stack.settings():
        (table,) = asyncio.run(_artifacts(runs["audit-role-assignments/manual"].id, "table"))
    assert "contosoaks-identity" in str(table)
    offboard_plan = _report(prefect_stack, runs["offboard-customer/manual"].id)
    assert "Plan only: nothing was written." in offboard_plan and "contosoaks-identity" in offboard_plan
    assert "storage access verified" in _report(prefect_stack, runs["verify-storage/manual"].id)


def test_dry_run_of_a_customer_with_work_to_do_plans_it_and_writes_nothing(
    sandbox: SandboxProcess, prefect_stack: PrefectStack
) -> None:
    northwind = find_customer("northwind")  # its application exists; nothing of the onboarding is done yet
    register_customer(sandbox, northwind)
    name = "onboard-customer/northwind"
    mark = sandbox.mark()
    run = prefect_stack.run_deployments([name], parameters={"dry_run": True})[name]
    assert run.state.is_completed(), run.state.message
    assert sandbox.arm_writes(mark, northwind.subscription_id) == []
    report = _report(prefect_stack, run.id)
    assert "**planned**" in report and "would attach northwindaks-identity to scale set" in report, report


def test_a_bad_override_fails_the_run_at_its_start_naming_field_and_customer(
    prefect_stack: PrefectStack,
) -> None:
    """The deployment runs the catalog entry by name; a run's overrides that make an invalid spec fail the run
    before any task (so before any cloud call), naming the field and the customer."""
    parameters = {"overrides": {"tenant_id": "not-a-guid"}}
    run = prefect_stack.run_deployments([DEPLOYMENT], parameters=parameters)[DEPLOYMENT]
    assert run.state.is_failed()
    message = run.state.message or ""
    assert "customer 'contoso'" in message and "field customer.tenant_id" in message, message
    with prefect_client(prefect_stack) as client:
        assert task_states(client, run.id) == {}, "no task (so no cloud call) ran"


def test_an_unknown_customer_fails_the_operations_naming_it(prefect_stack: PrefectStack) -> None:
    names = [f"{flow}/manual" for flow in OPERATIONS]
    runs = prefect_stack.run_deployments(names, parameters={"customer": "contsoo"})
    for name, run in runs.items():
        assert run.state.is_failed(), name
        assert "no customer named 'contsoo'" in (run.state.message or ""), f"{name}: {run.state.message}"
        with prefect_client(prefect_stack) as client:
            assert task_states(client, run.id) == {}, f"{name}: no task (so no cloud call) ran"
