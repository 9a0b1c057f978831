"""A customer through the real Prefect server and a process worker, started as the UI's Run button does."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from onboarding.catalog import find_customer
from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tools.cloud_actions import cluster_id, scale_set_identities
from tools.customers import register_customer
from tools.stack import PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

DEPLOYMENT = "onboard-customer/contoso"


@pytest.fixture(scope="module")
def contoso(sandbox: SandboxProcess) -> CustomerSpec:
    spec = find_customer("contoso")
    register_customer(sandbox, spec)
    return spec


async def _report(flow_run_id: object) -> str:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return "\n".join(a.data for a in artifacts if a.type == "markdown" and isinstance(a.data, str))


def test_customer_from_nothing_to_verified_then_nothing_to_do(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, contoso: CustomerSpec
) -> None:
    assert scale_set_identities(sandbox, contoso) == {}, (
        "nothing deployed yet: onboarding deploys the application"
    )
    mark = sandbox.mark()
    run = prefect_stack.run_deployments([DEPLOYMENT])[DEPLOYMENT]
    assert run.state.is_completed(), run.state.message
    assert sandbox.arm_writes(mark), "a fresh onboarding writes"
    print("\n" + sandbox.arm_figure("fresh_onboarding", mark))

    with prefect_stack.settings():
        report = asyncio.run(_report(run.id))
    assert "verified" in report and "folder1/t1.csv" in report

    state = sandbox.state()
    cluster = next(r for r in state["resources"] if r["id"].lower() == cluster_id(contoso).lower())
    kubelet = cluster["properties"]["identityProfile"]["kubeletidentity"]["resourceId"].lower()
    for name, identities in scale_set_identities(sandbox, contoso).items():
        assert kubelet in identities, f"{name} lost the kubelet identity"
        assert any(i.endswith("/contosoaks-identity") for i in identities), f"{name} lacks the app identity"

    mark = sandbox.mark()
    again = prefect_stack.run_deployments([DEPLOYMENT])[DEPLOYMENT]
    assert again.state.is_completed(), again.state.message
    assert sandbox.arm_writes(mark) == [], "re-running a finished customer writes nothing"
    print("\n" + sandbox.arm_figure("rerun_onboarding", mark))


def test_dry_run_writes_nothing(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, contoso: CustomerSpec
) -> None:
    mark = sandbox.mark()
    run = prefect_stack.run_deployments([DEPLOYMENT], parameters={"dry_run": True})[DEPLOYMENT]
    assert run.state.is_completed(), run.state.message
    assert sandbox.arm_writes(mark) == []


def test_malformed_spec_is_refused_before_any_cloud_call(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, contoso: CustomerSpec
) -> None:
    bad = contoso.model_dump(mode="json", exclude_none=True)
    bad["tenant_id"] = "not-a-guid"
    mark = sandbox.mark()
    with pytest.raises(Exception, match="tenant_id"):
        prefect_stack.run_deployments([DEPLOYMENT], parameters={"customer": bad})
    assert sandbox.requests_log(since=mark) == []
