"""The migrate-to-workload-identity/manual deployment as an operator starts it from the UI, through the real
Prefect server and worker: a customer onboarded on aad-pod-identity (its cluster without workload identity) is
planned (the default dry run, nothing written), then migrated; the report says the catalog change to commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tests.integration.adopted import adopted_spec
from tools.stack import PrefectStack

from .catalog_customer import onboarded_through_prefect

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

DEPLOYMENT = "migrate-to-workload-identity/manual"


@pytest.fixture(scope="module")
def migflow(sandbox: SandboxProcess, prefect_stack: PrefectStack, worker_catalog: Path) -> CustomerSpec:
    return onboarded_through_prefect(
        sandbox, prefect_stack, worker_catalog, adopted_spec("migflow", "aad-pod-identity-managed")
    )


def _report(stack: PrefectStack, flow_run_id: object) -> str:
    async def read() -> list[object]:
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
        return [a.data for a in artifacts if a.type == "markdown"]

    with stack.settings():
        return "\n".join(str(data) for data in asyncio.run(read()))


def test_plan_then_migration_from_the_manual_deployment(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, migflow: CustomerSpec
) -> None:
    mark = sandbox.mark()
    plan = prefect_stack.run_deployments([DEPLOYMENT], parameters={"customer": migflow.name})[DEPLOYMENT]
    assert plan.state.is_completed(), plan.state.message
    assert sandbox.arm_writes(mark, migflow.subscription_id) == [], "the default is a dry run"
    report = _report(prefect_stack, plan.id)
    assert "planned: nothing was written" in report
    assert "would enable OIDC issuer and workload identity on cluster migflowaks" in report
    assert "would delete AzureIdentityBinding default/" in report

    mark = sandbox.mark()
    parameters = {"customer": migflow.name, "dry_run": False}
    run = prefect_stack.run_deployments([DEPLOYMENT], parameters=parameters)[DEPLOYMENT]
    assert run.state.is_completed(), run.state.message
    writes = sandbox.arm_writes(mark, migflow.subscription_id)
    assert any("/managedClusters/migflowaks" in w for w in writes), writes
    report = _report(prefect_stack, run.id)
    assert "migrated to workload identity by this run" in report
    assert "pod_identity:\n  mode: workload-identity" in report
    assert "deleted AzureIdentityBinding default/" in report
    print("\n" + sandbox.arm_figure("migrate_flow_apply", mark))
