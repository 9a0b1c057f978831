"""Migrating customers from aad-pod-identity to workload identity, through the sandbox (no Prefect): standard and
managed mode, another team's pod identity in the cluster, throttling, pods still on pod identity, a second run
and a dry run that write nothing, and the nightly reconcile that follows the cluster's record."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.msi import ManagedServiceIdentityClient
from kubernetes.client import CoreV1Api, CustomObjectsApi

from onboarding.azure import federated_credentials
from onboarding.cluster import IdentityRef
from onboarding.context import CustomerContext
from onboarding.kube import migration_record
from onboarding.kube import pod_identity as aad
from onboarding.kube import workload_identity as wi
from onboarding.kube.cleanup import helm_release_recorded
from onboarding.kube.kubeconfig import customer_cluster
from onboarding.operations.migrate import migrate_to_workload_identity
from onboarding.pipeline import run_onboarding
from onboarding.report import onboarding_markdown
from onboarding.retry import LoggedAttempts, RetryPolicy, run_with_retries
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from sandbox.client import SandboxProcess
from tools.cloud_actions import scale_set_identities
from tools.customers import register_customer

from .adopted import adopted_spec

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("migrate")]

REPO = Path(__file__).resolve().parents[2]


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "helm_executable": shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm"),
        "poll_interval_s": 0.05,
        "retry_base_delay_s": 0.1,
        "retry_max_delay_s": 0.5,
        "propagation_budget_s": 30.0,
        "deployment_timeout_s": 60.0,
        "probe_timeout_s": 60.0,
    }
    return Settings(**{**values, **overrides})


def onboarded_on_pod_identity(
    box: SandboxProcess, name: str, mode: str, *, feature_on: bool = True, **settings: Any
) -> CustomerContext:
    """A customer onboarded in an aad-pod-identity mode; ``feature_on``: its cluster was deployed with the OIDC
    issuer and workload identity enabled already (the template's enableWorkloadIdentity)."""
    spec = adopted_spec(name, mode)
    register_customer(box, spec, parameters={"enableWorkloadIdentity": feature_on})
    ctx = CustomerContext(spec, _settings(**settings))
    steps, _ = run_onboarding(ctx, dry_run=False)
    assert steps[-1].details["verified"] is True
    return ctx


def writes_of(box: SandboxProcess, ctx: CustomerContext, mark: int) -> list[str]:
    """This customer's ARM writes since ``mark`` (the sandbox is shared with other modules' background runs)."""
    return [w for w in box.arm_writes(mark) if ctx.spec.subscription_id.lower() in w.lower()]


def pod_identity_objects(ctx: CustomerContext) -> dict[str, list[str]]:
    cluster = discover_cluster(ctx)
    with customer_cluster(ctx, cluster, step="test") as access:
        custom = CustomObjectsApi(access.api)
        return {
            plural: [
                f"{o['metadata']['namespace']}/{o['metadata']['name']}"
                for o in custom.list_cluster_custom_object(aad.GROUP, aad.VERSION, plural)["items"]
            ]
            for plural in (aad.IDENTITIES, aad.BINDINGS)
        }


def chart_recorded(ctx: CustomerContext) -> bool:
    cluster = discover_cluster(ctx)
    chart = ctx.spec.chart
    with customer_cluster(ctx, cluster, step="test") as access:
        return helm_release_recorded(
            access.api, release=chart.release, namespace=chart.namespace, customer=ctx.spec.name, step="test"
        )


def assert_on_workload_identity(ctx: CustomerContext) -> None:
    cluster = discover_cluster(ctx)
    spec = ctx.spec.pod_identity
    name = wi.credential_name(
        customer=ctx.spec.name, namespace=spec.namespace, service_account=spec.service_account
    )
    fic = federated_credentials.read_federated_credential(
        ctx.client(ManagedServiceIdentityClient), cluster.app_identity, name=name, customer="t", step="t"
    )
    assert fic is not None and fic.issuer == cluster.oidc_issuer_url
    with customer_cluster(ctx, cluster, step="test") as access:
        account = CoreV1Api(access.api).read_namespaced_service_account(spec.service_account, spec.namespace)
        assert account.metadata.annotations[wi.CLIENT_ID_ANNOTATION] == cluster.app_identity.client_id
        record = migration_record.read_record(
            access.api, namespace=spec.namespace, customer=ctx.spec.name, step="test"
        )
        assert record is not None and record.mode.value == "workload-identity"


@pytest.fixture(scope="module")
def standard(sandbox: SandboxProcess) -> CustomerContext:
    return onboarded_on_pod_identity(sandbox, "migstd", "aad-pod-identity-standard")


def test_standard_mode_dry_run_then_migration_then_second_run(
    sandbox: SandboxProcess, standard: CustomerContext
) -> None:
    ctx = standard
    identity = discover_cluster(ctx).app_identity
    mark = sandbox.mark()
    plan = migrate_to_workload_identity(ctx)
    assert writes_of(sandbox, ctx, mark) == []
    assert plan.details["state"] == "planned" and all(
        c.startswith(("would ", "ServiceAccount", "federated")) for c in plan.changed
    )
    binding = f"AzureIdentityBinding default/{aad.binding_name(identity.name)}"
    assert f"would delete {binding}" in plan.changed
    assert "would uninstall helm release kube-system/aad-pod-identity" in plan.changed
    print("\n" + sandbox.arm_figure("migrate_plan", mark))

    mark = sandbox.mark()
    done = migrate_to_workload_identity(ctx, dry_run=False)
    print("\n" + sandbox.arm_figure("migrate_apply", mark))
    assert done.details["state"] == "migrated"
    assert done.details["workload_identity_proof"]["verified"] is True
    assert done.details["pod_identity_proof"]["verified"] is True
    assert f"deleted {binding}" in done.changed
    assert "uninstalled helm release kube-system/aad-pod-identity" in done.changed
    assert done.details["catalog_change"]["yaml"] == "pod_identity:\n  mode: workload-identity\n"
    assert pod_identity_objects(ctx) == {aad.IDENTITIES: [], aad.BINDINGS: []}
    assert not chart_recorded(ctx)
    assert_on_workload_identity(ctx)

    mark = sandbox.mark()
    again = migrate_to_workload_identity(ctx, dry_run=False)
    assert again.details["state"] == "already-migrated" and again.changed == []
    assert writes_of(sandbox, ctx, mark) == []


def test_the_nightly_reconcile_follows_the_record_not_the_catalog(
    sandbox: SandboxProcess, standard: CustomerContext
) -> None:
    """After the migration the catalog still says aad-pod-identity-standard: onboarding follows the cluster's
    record (workload identity), reinstalls nothing, writes nothing and says which change to commit."""
    ctx = standard
    assert ctx.spec.pod_identity.mode.value == "aad-pod-identity-standard"
    mark = sandbox.mark()
    steps, cluster = run_onboarding(ctx, dry_run=False)
    assert writes_of(sandbox, ctx, mark) == []
    by_name = {s.step: s for s in steps}
    follow = by_name["follow_migration_record"]
    assert follow.details["recorded_mode"] == "workload-identity"
    assert follow.details["catalog_change"]["yaml"] == "pod_identity:\n  mode: workload-identity\n"
    assert by_name["install_pod_identity"].details["mode"] == "workload-identity"
    assert by_name["install_pod_identity"].changed == []
    assert by_name["verify_storage_access"].details["verified"] is True
    assert pod_identity_objects(ctx) == {aad.IDENTITIES: [], aad.BINDINGS: []}
    assert not chart_recorded(ctx)
    report = onboarding_markdown(
        customer="migstd", outcome="verified", dry_run=False, steps=steps, cluster=cluster
    )
    assert "commit" in report.lower() and "mode: workload-identity" in report


def test_managed_mode_removes_the_scale_set_identity_when_asked(sandbox: SandboxProcess) -> None:
    ctx = onboarded_on_pod_identity(
        sandbox, "migmgd", "aad-pod-identity-managed", migration_remove_scale_set_identity=True
    )
    cluster = discover_cluster(ctx)
    kubelet, app = cluster.kubelet_identity.resource_id.lower(), cluster.app_identity.resource_id.lower()
    assert all(app in ids for ids in scale_set_identities(sandbox, ctx.spec).values())
    done = migrate_to_workload_identity(ctx, dry_run=False)
    assert done.details["state"] == "migrated"
    assert any(c.startswith(f"removed {cluster.app_identity.name} from scale set") for c in done.changed)
    for name, identities in scale_set_identities(sandbox, ctx.spec).items():
        assert identities == [kubelet], f"{name} keeps the kubelet identity and only it"
    assert pod_identity_objects(ctx) == {aad.IDENTITIES: [], aad.BINDINGS: []}
    assert_on_workload_identity(ctx)
    mark = sandbox.mark()
    assert migrate_to_workload_identity(ctx, dry_run=False).details["state"] == "already-migrated"
    assert writes_of(sandbox, ctx, mark) == []


def test_another_teams_pod_identity_stays_and_so_does_the_chart(sandbox: SandboxProcess) -> None:
    ctx = onboarded_on_pod_identity(sandbox, "migteam", "aad-pod-identity-standard")
    cluster = discover_cluster(ctx)
    theirs = IdentityRef(**{**cluster.kubelet_identity.model_dump(), "name": "team-reader"})
    with customer_cluster(ctx, cluster, step="test") as access:
        CoreV1Api(access.api).create_namespace({"metadata": {"name": "team"}})
        custom = CustomObjectsApi(access.api)
        for plural, body in (
            (aad.IDENTITIES, aad.azure_identity_body(theirs, namespace="team", customer="x")),
            (aad.BINDINGS, aad.binding_body(theirs, namespace="team", selector="team-reader", customer="x")),
        ):
            body["metadata"].pop("labels")  # another team's: not labelled as this product's
            custom.create_namespaced_custom_object(aad.GROUP, aad.VERSION, "team", plural, body)

    done = migrate_to_workload_identity(ctx, dry_run=False)
    assert done.details["state"] == "migrated"
    assert pod_identity_objects(ctx) == {
        aad.IDENTITIES: ["team/team-reader"],
        aad.BINDINGS: ["team/team-reader-binding"],
    }
    assert chart_recorded(ctx), "their binding still needs NMI: the chart stays"
    kept = "helm release kube-system/aad-pod-identity kept: AzureIdentityBinding team/team-reader-binding (not ours)"
    assert any(u.startswith(kept) for u in done.unchanged)
    mark = sandbox.mark()
    again = migrate_to_workload_identity(ctx, dry_run=False)
    assert again.details["state"] == "already-migrated" and writes_of(sandbox, ctx, mark) == []


def test_throttled_migration_converges_and_writes_once(sandbox: SandboxProcess) -> None:
    ctx = onboarded_on_pod_identity(sandbox, "migthrottle", "aad-pod-identity-managed", sdk_retry_total=1)
    sub = ctx.spec.subscription_id
    sandbox.set_faults(
        [
            {
                "status": 429,
                "code": "TooManyRequests",
                "path": sub,
                "count": 6,
                "probability": 0.5,
                "seed": 3,
                "retry_after": 0.2,
            }
        ]
    )
    mark = sandbox.mark()
    try:
        done = run_with_retries(
            lambda: migrate_to_workload_identity(ctx, dry_run=False),
            step="migrate",
            customer=ctx.spec.name,
            policy=RetryPolicy.from_settings(ctx.settings),
            attempts=LoggedAttempts(logging.getLogger("test")),
        )
    finally:
        sandbox.clear_faults()
    throttled = [
        e for e in sandbox.requests_log(mark) if e["status"] == 429 and sub.lower() in e["path"].lower()
    ]
    assert throttled, "the faults fired"
    assert done.details["state"] == "migrated"
    assert_on_workload_identity(ctx)
    fic_writes = [w for w in writes_of(sandbox, ctx, mark) if "federatedIdentityCredentials" in w]
    assert len(fic_writes) >= 1
    mark = sandbox.mark()
    assert migrate_to_workload_identity(ctx, dry_run=False).details["state"] == "already-migrated"
    assert writes_of(sandbox, ctx, mark) == []
