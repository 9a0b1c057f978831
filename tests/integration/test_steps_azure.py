"""The Azure steps (managed application, discovery, node resource group roles, scale set identities, storage
reader and publisher-side storage check) with the real SDK clients against the sandbox. No mocks."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from onboarding.azure import vmss
from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.errors import AuthorizationPendingError, PermanentError, TransientError
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.pipeline import run_onboarding
from onboarding.results import StepResult
from onboarding.settings import Settings
from onboarding.steps.attach import attach_identities, survey_scale_sets
from onboarding.steps.discover import discover_cluster
from onboarding.steps.managed_app import ensure_managed_app
from onboarding.steps.roles import ensure_node_rg_roles
from onboarding.steps.storage import ensure_storage_reader, verify_storage_from_publisher
from sandbox.client import SandboxProcess

pytestmark = pytest.mark.integration


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "poll_interval_s": 0.05,
        "retry_max_delay_s": 0.5,
        "propagation_budget_s": 30,
        "deployment_timeout_s": 60,
    }
    return Settings(**{**values, **overrides})


def _customer(box: SandboxProcess, name: str, **extra: Any) -> dict[str, Any]:
    return box.add_customer(
        name=name, tenant_id=str(uuid.uuid4()), subscription_id=str(uuid.uuid4()), **extra
    )


def _spec(customer: dict[str, Any], **overrides: Any) -> CustomerSpec:
    name = customer["name"]
    raw: dict[str, Any] = {
        "name": name,
        "tenant_id": customer["tenant_id"],
        "subscription_id": customer["subscription_id"],
        "location": customer["location"],
        "managed_application": {
            "resource_group": customer["application_resource_group"],
            "name": f"{name}-ama",
            "parameters": {"aks_name": f"{name}aks", "node_resource_group": f"{name}-ama-aks-rg"},
        },
    }
    raw.update(overrides)
    return load_customer_spec(raw)


def _adopted_marketplace_app(box: SandboxProcess, name: str) -> tuple[dict[str, Any], CustomerSpec]:
    """A customer that bought the Marketplace application, and its spec adopting it (adopt_only)."""
    customer = _customer(
        box, name, adopt={"aksName": f"{name}aks", "nodeResourceGroup": f"{name}-ama-aks-rg"}
    )
    spec = _spec(
        customer,
        managed_application={
            "resource_group": customer["application_resource_group"],
            "name": name,
            "managed_resource_group": f"{name}-mrg",
            "adopt_only": True,
            "plan": {
                "name": "aks",
                "publisher": "sandbox-publisher",
                "product": "ama-aks",
                "version": "1.0.0",
            },
            "parameters": {"aks_name": f"{name}aks", "node_resource_group": f"{name}-ama-aks-rg"},
        },
    )
    return customer, spec


def _mark(box: SandboxProcess) -> int:
    return len(box.requests_log())


def _run_all(ctx: CustomerContext, *, dry_run: bool = False) -> tuple[list[StepResult], ClusterInfo]:
    """The pipeline's Azure side: its steps through attaching the identities."""
    results, cluster = run_onboarding(ctx, dry_run=dry_run, through="attach-identities")
    assert cluster is not None
    return results, cluster


def _attached(ctx: CustomerContext, vmss_id: str) -> set[str]:
    from azure.mgmt.compute import ComputeManagementClient

    scale_set = vmss.get_scale_set(ctx.client(ComputeManagementClient, node_rg=True), vmss_id)
    return {i.lower() for i in vmss.attached_ids(scale_set)}


def test_fresh_customer_onboards_then_reruns_without_writes(sandbox: SandboxProcess) -> None:
    customer = _customer(sandbox, "azfresh")
    spec = _spec(customer, node_role="Owner", pod_identity={"mode": "aad-pod-identity-standard"})
    ctx = CustomerContext(spec, _settings())

    # Dry run of a customer with nothing deployed: the plan, and not one write.
    mark = _mark(sandbox)
    planned = ensure_managed_app(ctx, dry_run=True)
    assert planned.details["exists"] is False
    assert planned.changed == [
        "would create managed application azfresh-ama (ServiceCatalog) with managed "
        "resource group azfresh-ama-mrg"
    ]
    assert sandbox.arm_writes(mark, spec.subscription_id) == []

    created = ensure_managed_app(ctx)
    assert created.changed == ["created managed application azfresh-ama (ServiceCatalog)"]
    assert created.details["provisioning_state"] == "Succeeded"
    assert created.details["outputs"]["aksName"] == "azfreshaks"
    cluster = discover_cluster(ctx)
    assert cluster.scale_sets and cluster.node_resource_group == "azfresh-ama-aks-rg"
    assert cluster.identities[0].resource_id == cluster.app_identity.resource_id
    kubelet = cluster.kubelet_identity.resource_id.lower()
    assert all(kubelet in _attached(ctx, v) for v in cluster.scale_sets)

    # Dry run of the remaining steps: the plan lists the work, still no writes.
    mark = _mark(sandbox)
    roles_plan = ensure_node_rg_roles(ctx, cluster, dry_run=True)
    attach_plan = [attach_identities(ctx, cluster, v, dry_run=True) for v in cluster.scale_sets]
    assert sandbox.arm_writes(mark, spec.subscription_id) == []
    assert roles_plan.changed == [], "the template (1.2.0) made every assignment"
    assert roles_plan.details["effective"].startswith("not proven in a dry run"), roles_plan.details
    assert all(p.changed and p.changed[0].startswith("would attach azfreshaks-identity") for p in attach_plan)

    # The template (1.2.0) made every assignment, the kubelet's MIO on the managed RG included: onboarding finds them.
    roles = ensure_node_rg_roles(ctx, cluster)
    assert roles.details["effective"].startswith("proven by the next write"), roles.details
    assert roles.changed == []
    assert any(
        u.startswith("Managed Identity Operator for identity azfreshaks-agentpool on managed resource group")
        for u in roles.unchanged
    ), roles.unchanged
    assert any(
        u.startswith("Owner for identity azfreshaks-identity on node resource group") for u in roles.unchanged
    )
    for vmss_id in cluster.scale_sets:
        attached = attach_identities(ctx, cluster, vmss_id)
        assert attached.changed == [f"attached azfreshaks-identity to scale set {vmss_id.rsplit('/', 1)[-1]}"]
        identities = _attached(ctx, vmss_id)
        assert kubelet in identities, "the kubelet identity must survive the attach"
        assert cluster.app_identity.resource_id.lower() in identities
    assert survey_scale_sets(ctx, cluster).gaps() == {}

    # Storage: the template (package 1.2.0) granted Storage Blob Data Reader; the publisher finds it, then reads as
    # the identity (listTokens).
    reader = ensure_storage_reader(ctx, cluster)
    assert reader.changed == [] and reader.details["template_grants"] is True
    assert "Storage Blob Data Reader for identity azfreshaks-identity" in reader.unchanged[0]
    seen = verify_storage_from_publisher(ctx, cluster)
    assert seen["listing"] == ["folder1/t1.csv"]
    assert seen["bytes"] > 0 and seen["first_line"]
    mark = _mark(sandbox)
    assert ensure_storage_reader(ctx, cluster).changed == []
    assert sandbox.arm_writes(mark, spec.subscription_id) == []

    # Everything in place (the storage grant too: the pipeline grants it early): a second run changes nothing and writes nothing.
    mark = _mark(sandbox)
    again, _ = _run_all(ctx)
    assert [r.changed for r in again] == [[] for _ in again]
    assert sandbox.arm_writes(mark, spec.subscription_id) == []
    mark = _mark(sandbox)
    dry_again, _ = _run_all(ctx, dry_run=True)
    assert [r.changed for r in dry_again] == [[] for _ in dry_again]
    assert sandbox.arm_writes(mark, spec.subscription_id) == []


def test_marketplace_application_is_adopted(sandbox: SandboxProcess) -> None:
    customer, spec = _adopted_marketplace_app(sandbox, "azmarket")
    ctx = CustomerContext(spec, _settings())
    mark = _mark(sandbox)
    adopted = ensure_managed_app(ctx)
    assert adopted.changed == [] and adopted.details["kind"] == "MarketPlace"
    assert adopted.details["application_id"] == customer["application_id"]
    cluster = discover_cluster(ctx)
    assert cluster.app_identity.resource_id.lower() == customer["identity_id"].lower()
    roles = ensure_node_rg_roles(ctx, cluster)
    assert roles.changed == []
    assert roles.unchanged == [
        "Virtual Machine Contributor for identity azmarketaks-identity on node resource "
        "group azmarket-ama-aks-rg"
    ]
    assert sandbox.arm_writes(mark, spec.subscription_id) == []
    assert set(survey_scale_sets(ctx, cluster).gaps()) == set(cluster.scale_sets)
    for vmss_id in cluster.scale_sets:
        assert attach_identities(ctx, cluster, vmss_id).changed
    assert survey_scale_sets(ctx, cluster).gaps() == {}


def test_adopt_only_without_an_application_is_permanent(sandbox: SandboxProcess) -> None:
    customer = _customer(sandbox, "azmissing")
    spec = _spec(customer)
    spec = load_customer_spec(
        {
            **spec.model_dump(mode="json"),
            "managed_application": {**spec.managed_application.model_dump(mode="json"), "adopt_only": True},
        }
    )
    mark = _mark(sandbox)
    with pytest.raises(PermanentError) as info:
        ensure_managed_app(CustomerContext(spec, _settings()))
    assert "azmissing-ama does not exist" in str(info.value)
    assert "customer 'azmissing'" in str(info.value)
    assert sandbox.arm_writes(mark, spec.subscription_id) == []


@pytest.fixture(scope="module")
def deployed(sandbox: SandboxProcess) -> CustomerSpec:
    """A deployed application in managed mode, as the publisher would leave it after step 1."""
    return _adopted_marketplace_app(sandbox, "azfaults")[1]


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "expected"),
    [
        (429, "SubscriptionRequestsThrottled", 7, TransientError),
        (503, "ServiceUnavailable", None, TransientError),
        (409, "OperationNotAllowed", None, TransientError),
        (403, "AuthorizationFailed", None, AuthorizationPendingError),
        (403, "DenyAssignmentAuthorizationFailed", None, PermanentError),
        (400, "InvalidParameter", None, PermanentError),
    ],
)
def test_real_arm_errors_are_classified(
    sandbox: SandboxProcess,
    deployed: CustomerSpec,
    status: int,
    code: str,
    retry_after: int | None,
    expected: type[Exception],
) -> None:
    rule: dict[str, Any] = {
        "status": status,
        "code": code,
        "method": "GET",
        "count": 1,
        "path": r"/providers/Microsoft\.Solutions/applications/azfaults$",
    }
    if retry_after is not None:
        rule["retry_after"] = retry_after
    sandbox.set_faults([rule])
    try:
        with pytest.raises(expected) as info:
            ensure_managed_app(CustomerContext(deployed, _settings(sdk_retry_total=0)))
    finally:
        sandbox.clear_faults()
    error = info.value
    assert isinstance(error, PermanentError | TransientError)
    assert error.status == status and error.code == code
    assert isinstance(error, TransientError) is (expected is not PermanentError)
    if retry_after is not None:
        assert isinstance(error, TransientError) and error.retry_after_s == retry_after
    assert str(error).startswith(
        "customer 'azfaults' step ensure_managed_app: read managed application azfaults"
    )


def test_scale_set_403_past_the_propagation_budget_is_permanent(
    sandbox: SandboxProcess, deployed: CustomerSpec
) -> None:
    ctx = CustomerContext(deployed, _settings(propagation_budget_s=0.5))
    cluster = discover_cluster(ctx)
    sandbox.set_faults(
        [
            {
                "status": 403,
                "code": "LinkedAuthorizationFailed",
                "method": "PATCH",
                "path": r"/virtualMachineScaleSets/",
                "count": 1000,
            }
        ]
    )
    try:
        with pytest.raises(PermanentError) as info:
            attach_identities(ctx, cluster, cluster.scale_sets[0])
    finally:
        sandbox.clear_faults()
    assert not isinstance(info.value, TransientError)
    assert "propagation budget" in str(info.value) and "refresh_permissions" in str(info.value)


def test_publisher_credential_cannot_read_the_node_resource_group(
    sandbox: SandboxProcess, deployed: CustomerSpec
) -> None:
    spec = load_customer_spec({**deployed.model_dump(mode="json"), "credential_source": "publisher"})
    with pytest.raises(PermanentError) as info:
        discover_cluster(CustomerContext(spec, _settings(propagation_budget_s=0.3)))
    assert info.value.status == 403
    assert "propagation budget" in str(info.value) and "refresh_permissions" in str(info.value)


def test_named_storage_account_that_does_not_exist_is_permanent(deployed: CustomerSpec) -> None:
    spec = load_customer_spec({**deployed.model_dump(mode="json"), "storage": {"account": "nosuchaccount"}})
    with pytest.raises(PermanentError) as info:
        discover_cluster(CustomerContext(spec, _settings()))
    assert info.value.status == 404 and "nosuchaccount" in str(info.value)
