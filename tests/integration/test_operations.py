"""Post-onboarding operations against the sandbox, as plain functions (no Prefect): refresh permissions, the
publisher-side storage check, the role assignment audit (cross-tenant reads), offboarding (plan, apply, second
apply), and an onboarding plan that matches what the real run that follows changes."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.models import RoleAssignmentCreateParameters
from kubernetes.client import CoreV1Api, CustomObjectsApi
from pyhelm3 import errors as helm_errors
from typer.testing import CliRunner

from onboarding.azure import roles
from onboarding.azure.roles import DesiredAssignment
from onboarding.cli import app
from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.helm import make_client, run_sync
from onboarding.kube import pod_identity as aad
from onboarding.kube.kubeconfig import customer_cluster
from onboarding.operations import audit
from onboarding.operations.offboard import offboard_customer
from onboarding.operations.refresh import refresh_permissions
from onboarding.operations.status import customer_status
from onboarding.operations.storage_check import verify_storage
from onboarding.pipeline import run_onboarding
from onboarding.results import StepResult
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from onboarding.steps.pod_identity import install_pod_identity
from onboarding.steps.storage import ensure_storage_reader
from sandbox.client import SandboxProcess
from tools.cloud_actions import scale_set_identities
from tools.customers import register_customer

from .adopted import adopted_spec

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("operations")]

REPO = Path(__file__).resolve().parents[2]
RA_LIST = "/providers/microsoft.authorization/roleassignments"
Deployed = tuple[CustomerContext, ClusterInfo]


def _settings() -> Settings:
    return Settings(
        helm_executable=shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm"),
        poll_interval_s=0.05,
        retry_base_delay_s=0.1,
        retry_max_delay_s=0.5,
        propagation_budget_s=30.0,
        deployment_timeout_s=60.0,
        probe_timeout_s=60.0,
    )


def _adopted(box: SandboxProcess, name: str, mode: str, **extra: Any) -> CustomerContext:
    """A customer whose Marketplace application is already deployed (adopted by onboarding)."""
    spec = adopted_spec(name, mode, **extra)
    register_customer(box, spec)
    return CustomerContext(spec, _settings())


def _assignments(ctx: CustomerContext, scope: str) -> list[Any]:
    client = ctx.client(AuthorizationManagementClient)
    return roles.made_at(roles.list_at_scope(client, scope, tenant_id=ctx.spec.tenant_id), scope)


def _holds(ctx: CustomerContext, scope: str, role: str, principal_id: str) -> bool:
    return any(
        roles.role_guid_of(a.role_definition_id or "") == role and a.principal_id == principal_id
        for a in _assignments(ctx, scope)
    )


@pytest.fixture(scope="module")
def adopted(sandbox: SandboxProcess) -> Deployed:
    ctx = _adopted(sandbox, "opsaudit", "workload-identity", storage={"mode": "publisher"})
    return ctx, discover_cluster(ctx)


def test_refresh_permissions_does_not_restore_a_deleted_template_assignment(
    sandbox: SandboxProcess, adopted: Deployed
) -> None:
    """refreshPermissions re-applies the publisher's authorizations (and moves the plan to targetVersion); a
    role assignment the template made stays deleted, and the audit says what brings it back."""
    ctx, cluster = adopted
    mrg, identity = cluster.managed_resource_group_id, cluster.app_identity
    owner = next(
        a
        for a in _assignments(ctx, mrg)
        if a.principal_id == identity.principal_id and roles.role_guid_of(a.role_definition_id) == roles.OWNER
    )
    publisher = ctx.client(AuthorizationManagementClient)
    roles.delete(publisher, owner, tenant_id=ctx.spec.tenant_id)
    assert not _holds(ctx, mrg, roles.OWNER, identity.principal_id)

    mark = sandbox.mark()
    result = refresh_permissions(ctx, target_version="1.0.1")
    assert result.changed == ["refreshed permissions of managed application opsaudit-ama to version 1.0.1"]
    assert result.details["status"] == "Succeeded"
    posts = [e for e in sandbox.requests_log(mark) if e["method"] == "POST"]
    assert [e["path"].rsplit("/", 1)[-1] for e in posts] == ["refreshPermissions"]
    assert posts[0]["query"]["targetVersion"] == "1.0.1"
    print("\n" + sandbox.arm_figure("refresh_permissions", mark))
    assert not _holds(ctx, mrg, roles.OWNER, identity.principal_id), (
        "a template's assignment is not refreshed"
    )
    row = next(r for r in audit.audit_role_assignments(ctx).details["rows"] if r["status"] == audit.MISSING)
    assert {"role": "Owner", "principal": f"identity {identity.name}"}.items() <= row.items()
    assert "new deployment of the template" in row["action"]
    publisher.role_assignments.create(  # put it back for the module's later tests, as the template made it
        owner.scope,
        owner.name,
        RoleAssignmentCreateParameters(
            role_definition_id=owner.role_definition_id,
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            delegated_managed_identity_resource_id=identity.resource_id,
        ),
    )


def test_storage_check_from_the_publisher_on_its_own(sandbox: SandboxProcess, adopted: Deployed) -> None:
    ctx, cluster = adopted
    ensure_storage_reader(ctx, cluster)
    mark = sandbox.mark()
    result = verify_storage(ctx)
    check = result.details["publisher_check"]
    assert result.details["verified"] is True and result.changed == []
    assert check["listing"] == ["folder1/t1.csv"] and check["bytes"] > 0
    assert result.unchanged == [f"storage access verified from the publisher: read {check['bytes']} bytes"]
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []
    print("\n" + sandbox.arm_figure("verify_storage_publisher", mark))


def test_audit_reads_cross_tenant_and_deletes_only_what_is_provably_ours(
    sandbox: SandboxProcess, adopted: Deployed
) -> None:
    ctx, cluster = adopted
    mrg, where = (
        cluster.managed_resource_group_id,
        f"managed resource group {cluster.managed_resource_group_id.rsplit('/', 1)[-1]}",
    )
    publisher = ctx.client(AuthorizationManagementClient)
    # Ours but unexpected: the product's deterministic name, one of the customer's identities, a role nobody wants.
    stray = DesiredAssignment(mrg, roles.READER, cluster.app_identity, where)
    assert roles.create(publisher, stray, subscription_id=ctx.spec.subscription_id, delegated=False)
    # Not provably ours: the customer's kubelet identity under someone else's name, and a foreign principal under
    # the name this product would give it.
    reader = roles.role_definition_id(ctx.spec.subscription_id, roles.READER)
    hand_made = str(uuid.uuid4())
    publisher.role_assignments.create(
        mrg,
        hand_made,
        RoleAssignmentCreateParameters(
            role_definition_id=reader,
            principal_id=cluster.kubelet_identity.principal_id,
            principal_type="ServicePrincipal",
        ),
    )
    foreign = sandbox.add_principal(tenant_id=ctx.spec.tenant_id)["object_id"]
    lookalike = roles.role_assignment_name(mrg, roles.READER, foreign)
    publisher.role_assignments.create(
        mrg,
        lookalike,
        RoleAssignmentCreateParameters(
            role_definition_id=reader, principal_id=foreign, principal_type="ServicePrincipal"
        ),
    )

    mark = sandbox.mark()
    report = audit.audit_role_assignments(ctx)
    print("\n" + sandbox.arm_figure("audit", mark))
    log = sandbox.requests_log(mark)
    lists = [e for e in log if e["method"] == "GET" and e["path"].lower().endswith(RA_LIST)]
    assert len(lists) == 3 and all(e["query"].get("tenantId") == ctx.spec.tenant_id for e in lists)
    callers = {e["path"].lower().split("/providers/")[0].rsplit("/", 1)[-1]: e["principal"] for e in lists}
    node_rg, app_principal = cluster.node_resource_group.lower(), cluster.app_identity.principal_id
    assert callers[node_rg] == app_principal, "the node resource group is read with the node-RG credential"
    assert callers[mrg.rsplit("/", 1)[-1].lower()] != app_principal, "the managed one as the publisher"
    assert [e for e in log if e["kind"] == "write"] == []
    rows = {r["assignment"]: r for r in report.details["rows"]}
    assert rows[stray.name]["status"] == audit.OURS and rows[stray.name]["action"] == audit.WOULD
    assert rows[hand_made]["status"] == rows[lookalike]["status"] == audit.NOT_OURS
    assert rows[hand_made]["action"] == rows[lookalike]["action"] == audit.LEFT
    expected_present = [r for r in report.details["rows"] if r["status"] == audit.PRESENT]
    assert {(r["role"], r["principal"]) for r in expected_present} >= {
        ("Owner", f"identity {cluster.app_identity.name}"),
        ("Virtual Machine Contributor", f"identity {cluster.app_identity.name}"),
    }
    assert report.changed == [f"would delete role assignment {stray.name}: {stray.describe()}"]

    mark = sandbox.mark()
    deleted = audit.audit_role_assignments(ctx, delete_unexpected=True)
    print("\n" + sandbox.arm_figure("audit_delete_unexpected", mark))
    assert deleted.changed == [f"deleted role assignment {stray.name}: {stray.describe()}"]
    writes = [e for e in sandbox.requests_log(mark) if e["kind"] == "write"]
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in writes] == [("DELETE", stray.name)]
    assert writes[0]["query"].get("tenantId") == ctx.spec.tenant_id
    left = {a.name for a in _assignments(ctx, mrg)}
    assert stray.name not in left and {hand_made, lookalike} <= left

    mark = sandbox.mark()
    again = audit.audit_role_assignments(ctx, delete_unexpected=True)
    assert again.changed == [] and again.details["counts"][audit.OURS] == 0
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []


@pytest.fixture(scope="module")
def onboarded(sandbox: SandboxProcess) -> tuple[CustomerContext, list[StepResult], list[StepResult], int]:
    """An adopted customer in aad-pod-identity managed mode: the onboarding plan, then the real run."""
    ctx = _adopted(sandbox, "opsboard", "aad-pod-identity-managed")
    mark = sandbox.mark()
    plan, _ = run_onboarding(ctx, dry_run=True)
    plan_writes = len(sandbox.arm_writes(mark, ctx.spec.subscription_id))
    real, _ = run_onboarding(ctx, dry_run=False)
    return ctx, plan, real, plan_writes


def test_the_onboarding_plan_matches_what_the_real_run_changes(
    onboarded: tuple[CustomerContext, list[StepResult], list[StepResult], int],
) -> None:
    _, plan, real, plan_writes = onboarded
    assert plan_writes == 0
    assert [s.step for s in plan] == [s.step for s in real]
    assert [s.as_applied for s in plan] == [s.changed for s in real]
    assert [len(s.changed) for s in plan] == [len(s.as_applied) for s in plan]
    changed = [c for s in real for c in s.changed]
    assert any(c.startswith("attached opsboardaks-identity to scale set") for c in changed)
    assert any(
        c.startswith("helm release kube-system/aad-pod-identity") and "installed" in c for c in changed
    )
    assert any(c.startswith("AzureIdentityBinding default/") for c in changed)
    assert any("Storage Blob Data Reader" in c for c in changed)
    assert real[-1].details["verified"] is True


def test_offboarding_plan_apply_and_second_apply(
    sandbox: SandboxProcess, onboarded: tuple[CustomerContext, list[StepResult], list[StepResult], int]
) -> None:
    ctx, _, _, _ = onboarded
    cluster = discover_cluster(ctx)
    kubelet = cluster.kubelet_identity.resource_id.lower()
    foreign = aad.azure_identity_body(cluster.kubelet_identity, namespace="default", customer="someone-else")
    foreign["metadata"] = {"name": "hand-made", "namespace": "default"}
    with customer_cluster(ctx, cluster, step="test") as access:
        CustomObjectsApi(access.api).create_namespaced_custom_object(
            aad.GROUP, aad.VERSION, "default", aad.IDENTITIES, foreign
        )

    mark = sandbox.mark()
    plan = offboard_customer(ctx)
    print("\n" + sandbox.arm_figure("offboard_plan", mark))
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []
    assert plan.dry_run and all(c.startswith("would ") for c in plan.changed)
    identity = cluster.app_identity
    assert f"would delete AzureIdentity default/{aad.k8s_name(identity.name)}" in plan.changed
    assert f"would delete AzureIdentityBinding default/{aad.binding_name(identity.name)}" in plan.changed
    assert "would uninstall helm release kube-system/aad-pod-identity" in plan.changed
    assert any(c.startswith(f"would remove {identity.name} from scale set") for c in plan.changed)
    assert any("Storage Blob Data Reader" in c for c in plan.changed)
    assert any(u.startswith("managed application opsboard-ama kept") for u in plan.unchanged)

    mark = sandbox.mark()
    applied = offboard_customer(ctx, dry_run=False)
    assert applied.changed == plan.as_applied
    print("\n" + sandbox.arm_figure("offboard_apply", mark))
    writes = sandbox.arm_writes(mark, ctx.spec.subscription_id)
    assert writes and all(w.startswith(("PATCH ", "DELETE ")) for w in writes)
    assert not any("/Microsoft.Solutions/applications/" in w for w in writes), "the application stays"
    for name, identities in scale_set_identities(sandbox, ctx.spec).items():
        assert identities == [kubelet], f"{name} keeps the kubelet identity and only it"
    with customer_cluster(ctx, cluster, step="test") as access:
        custom = CustomObjectsApi(access.api)
        left = custom.list_namespaced_custom_object(aad.GROUP, aad.VERSION, "default", aad.IDENTITIES)[
            "items"
        ]
        assert [o["metadata"]["name"] for o in left] == ["hand-made"]
        assert (
            custom.list_namespaced_custom_object(aad.GROUP, aad.VERSION, "default", aad.BINDINGS)["items"]
            == []
        )
        with pytest.raises(helm_errors.ReleaseNotFoundError):
            helm = make_client(settings=ctx.settings, kubeconfig=access.kubeconfig_path)
            run_sync(helm.get_current_revision("aad-pod-identity", namespace="kube-system"))

    mark = sandbox.mark()
    second = offboard_customer(ctx, dry_run=False)
    print("\n" + sandbox.arm_figure("offboard_second_apply", mark))
    assert second.changed == []
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []


def test_offboarding_workload_identity_removes_credential_and_service_account(
    sandbox: SandboxProcess,
) -> None:
    ctx = _adopted(
        sandbox,
        "opswi",
        "workload-identity",
        pod_identity={"mode": "workload-identity", "namespace": "analytics"},
    )
    cluster = discover_cluster(ctx)
    installed = install_pod_identity(ctx, cluster)
    assert any(c.startswith("federated identity credential") for c in installed.changed)

    applied = offboard_customer(ctx, dry_run=False)
    fic = f"ama-opswi-analytics-{ctx.spec.pod_identity.service_account}"
    assert f"deleted federated identity credential {fic} on {cluster.app_identity.name}" in applied.changed
    assert f"deleted ServiceAccount analytics/{ctx.spec.pod_identity.service_account}" in applied.changed
    with customer_cluster(ctx, cluster, step="test") as access:
        accounts = CoreV1Api(access.api).list_namespaced_service_account("analytics").items
        assert ctx.spec.pod_identity.service_account not in [a.metadata.name for a in accounts]
        assert CoreV1Api(access.api).read_namespace("analytics"), "namespaces stay: they may hold workloads"
    mark = sandbox.mark()
    assert offboard_customer(ctx, dry_run=False).changed == []
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []


def test_cli_status_and_audit_need_no_prefect_server(
    adopted: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, cluster = adopted
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    _write_catalog(tmp_path, ctx.spec.model_dump(mode="json", exclude_none=True))
    runner = CliRunner()
    shown = runner.invoke(app, ["status", "--catalog", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "opsaudit: application Succeeded; last verified unknown (PREFECT_API_URL is not set)"
    assert any(
        line.startswith("  scale set aks-nodepool1-") and "opsauditaks-agentpool" in line for line in lines
    )
    assert any(line.startswith("  pod identity:") for line in lines)
    audited = runner.invoke(app, ["audit", ctx.spec.name, "--catalog", str(tmp_path)])
    assert audited.exit_code == 0, audited.output
    assert "# Role assignment audit of customer `opsaudit`" in audited.output
    assert any(
        f"| identity {cluster.app_identity.name} |" in line and f"| {audit.PRESENT} |" in line
        for line in audited.output.splitlines()
    )
    missing = runner.invoke(app, ["audit", "nobody", "--catalog", str(tmp_path)])
    assert missing.exit_code == 2 and "no customer named 'nobody'" in missing.output


def test_status_asks_its_caller_when_the_customer_was_last_verified(adopted: Deployed) -> None:
    ctx, _ = adopted
    asked: list[str] = []
    found = customer_status(ctx, lambda customer: asked.append(customer) or "yesterday")
    assert (found.last_verified, asked, found.error) == ("yesterday", [ctx.spec.name], None)
    assert found.application == "Succeeded" and found.scale_sets


def _write_catalog(directory: Path, *docs: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (directory / f"{doc['name']}.yaml").write_text(yaml.safe_dump(doc))
    return directory


def test_cli_validate_then_plan_reads_and_writes_nothing(sandbox: SandboxProcess, tmp_path: Path) -> None:
    ctx = _adopted(
        sandbox,
        "opsplan",
        "workload-identity",
        pod_identity={"mode": "workload-identity", "namespace": "analytics"},
    )
    doc = ctx.spec.model_dump(mode="json", exclude_none=True)
    catalog = _write_catalog(tmp_path / "good", doc)
    runner = CliRunner()
    valid = runner.invoke(app, ["validate", "--catalog", str(catalog)])
    assert valid.exit_code == 0 and "1 customers valid" in valid.output, valid.output

    broken = _write_catalog(tmp_path / "broken", {**doc, "tenant_id": "not-a-guid"})
    refused = runner.invoke(app, ["validate", "--catalog", str(broken)])
    assert refused.exit_code == 2 and "'opsplan'" in refused.output and "tenant_id" in refused.output

    mark = sandbox.mark()
    planned = runner.invoke(app, ["plan", "opsplan", "--catalog", str(catalog)])
    assert planned.exit_code == 0, planned.output
    assert (
        "**planned**" in planned.output and "would attach opsplanaks-identity to scale set" in planned.output
    )
    assert "federated identity credential ama-opsplan-analytics-" in planned.output, planned.output
    assert "would create" in planned.output
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []
