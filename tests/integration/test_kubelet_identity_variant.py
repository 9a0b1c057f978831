"""The package with the application identity as AKS's kubelet identity (tools/kubelet_identity_variant.py, not
shipped): created by onboarding in one deployment, AKS refuses its cluster (the template's Managed Identity Operator
grant has not propagated yet); deployed long before (adopted), onboarding finds the identity on every scale set and
writes none, and neither does the node pool path for a pool added later."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient

from onboarding.context import CustomerContext
from onboarding.errors import PermanentError
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.pipeline import run_onboarding
from onboarding.settings import Settings
from onboarding.steps.attach import attach_identities, pool_scale_set
from onboarding.steps.discover import discover_cluster
from sandbox.client import SandboxProcess
from tools.cloud_actions import add_agent_pool, cluster_id
from tools.customers import register_customer
from tools.kubelet_identity_variant import VARIANT_ID, publish_variant

from .adopted import adopted_spec
from .armkit import APP_API, credential, make

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("kubelet_identity_variant")]


@pytest.fixture(scope="module")
def variant(sandbox: SandboxProcess) -> str:
    return publish_variant(sandbox)


def _context(spec: CustomerSpec) -> CustomerContext:
    return CustomerContext(spec, Settings(poll_interval_s=0.05, propagation_budget_s=30.0))


def _variant_customer(name: str, *, adopt_only: bool) -> CustomerSpec:
    doc: dict[str, Any] = adopted_spec(name, "aad-pod-identity-managed").model_dump(
        mode="json", exclude_none=True
    )
    doc["managed_application"].pop("plan")
    doc["managed_application"] |= {"definition_id": VARIANT_ID, "adopt_only": adopt_only}
    return load_customer_spec(doc)


def _scale_set_writes(box: SandboxProcess, mark: int, spec: CustomerSpec) -> list[str]:
    return [w for w in box.arm_writes(mark, spec.subscription_id) if "/virtualmachinescalesets/" in w.lower()]


def _codes(error: Any) -> list[str]:
    """Every code in an ARM error and its nested details."""
    return [str(error.code), *(c for d in error.details or [] for c in _codes(d))]


def test_created_in_one_deployment_aks_refuses_the_cluster(sandbox: SandboxProcess, variant: str) -> None:
    spec = _variant_customer("kubvfresh", adopt_only=False)
    register_customer(sandbox, spec)
    with pytest.raises(PermanentError, match="ApplianceDeploymentFailed"):
        run_onboarding(_context(spec), dry_run=False)

    # What the deployment's failure says, as ARM answers the application's PUT
    resources = make(ResourceManagementClient, sandbox, credential(sandbox), spec.subscription_id)
    rg = f"/subscriptions/{spec.subscription_id}/resourceGroups/{spec.managed_application.resource_group}"
    body = {
        "location": spec.location,
        "kind": "ServiceCatalog",
        "properties": {
            "applicationDefinitionId": VARIANT_ID,
            "managedResourceGroupId": f"/subscriptions/{spec.subscription_id}/resourceGroups/kubvagain-mrg",
            "parameters": {"aksName": {"value": "kubvagain"}},
        },
    }
    with pytest.raises(HttpResponseError) as refused:
        resources.resources.begin_create_or_update_by_id(
            f"{rg}/providers/Microsoft.Solutions/applications/kubvagain", body, api_version=APP_API
        ).result()
    assert refused.value.error is not None
    codes = _codes(refused.value.error)
    assert codes[0] == "ApplianceDeploymentFailed" and "CustomKubeletIdentityMissingPermissionError" in codes


def test_deployed_before_onboarding_the_identity_is_already_on_every_scale_set(
    sandbox: SandboxProcess, variant: str
) -> None:
    spec = _variant_customer("kubvadopted", adopt_only=True)
    register_customer(sandbox, spec)
    mark = sandbox.mark()
    steps, cluster = run_onboarding(_context(spec), dry_run=False)
    assert steps[-1].details["verified"] is True
    attach = [s for s in steps if s.step == "attach_identities"]
    assert attach and all(not s.changed and s.unchanged for s in attach)
    assert _scale_set_writes(sandbox, mark, spec) == []
    assert cluster is not None and cluster.kubelet_identity.resource_id == cluster.app_identity.resource_id

    add_agent_pool(sandbox, spec, "later")
    mark = sandbox.mark()
    ctx = _context(spec)
    cluster = discover_cluster(ctx)
    vmss_id = pool_scale_set(ctx, cluster, f"{cluster_id(spec)}/agentPools/later")
    result = attach_identities(ctx, cluster, vmss_id)
    assert result.changed == [] and result.unchanged
    assert _scale_set_writes(sandbox, mark, spec) == []
