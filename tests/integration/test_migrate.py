"""Migrating customers from aad-pod-identity to workload identity, through the sandbox (no Prefect): standard and
managed mode, another team's pod identity in the cluster, throttling, pods still on pod identity, a second run
and a dry run that write nothing, and the nightly reconcile that follows the cluster's record."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.msi import ManagedServiceIdentityClient
from kubernetes.client import CoreV1Api, CustomObjectsApi
from typer.testing import CliRunner

from onboarding.azure import federated_credentials
from onboarding.cli import app
from onboarding.cluster import IdentityRef
from onboarding.context import CustomerContext
from onboarding.errors import OnboardingError, PermanentError
from onboarding.kube import migration_record
from onboarding.kube import pod_identity as aad
from onboarding.kube import workload_identity as wi
from onboarding.kube.cleanup import helm_release_recorded
from onboarding.kube.kubeconfig import customer_cluster
from onboarding.operations.migrate import migrate_to_workload_identity
from onboarding.operations.offboard import offboard_customer
from onboarding.pipeline import run_onboarding
from onboarding.report import onboarding_markdown
from onboarding.retry import LoggedAttempts, RetryPolicy, run_with_retries
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from onboarding.steps.pod_identity import selector_for
from onboarding.steps.verify import probe_request
from sandbox.client import SandboxProcess
from tools.cloud_actions import scale_set_identities
from tools.customers import register_customer, write_catalog_entry

from . import continuity
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
    return box.arm_writes(mark, ctx.spec.subscription_id)


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
    install, verify = by_name["install_pod_identity"], by_name["verify_storage_access"]
    for step in (install, verify):
        assert step.details["recorded_mode"] == "workload-identity"
        assert step.details["catalog_change"]["yaml"] == "pod_identity:\n  mode: workload-identity\n"
    assert install.details["mode"] == "workload-identity" and install.changed == []
    assert verify.details["verified"] is True
    assert pod_identity_objects(ctx) == {aad.IDENTITIES: [], aad.BINDINGS: []}
    assert not chart_recorded(ctx)
    report = onboarding_markdown(
        customer="migstd", outcome="verified", dry_run=False, steps=steps, cluster=cluster
    )
    assert "commit" in report.lower() and "mode: workload-identity" in report
    offboarding = offboard_customer(ctx)
    assert f"would delete ConfigMap default/{migration_record.NAME}" in offboarding.changed


def test_cli_plans_by_default_and_applies_with_apply(
    sandbox: SandboxProcess, standard: CustomerContext, tmp_path: Path
) -> None:
    """After the migration (the tests above): the plan has nothing to do, --apply writes nothing."""
    write_catalog_entry(tmp_path, standard.spec)
    runner = CliRunner()
    mark = sandbox.mark()
    planned = runner.invoke(app, ["migrate", "migstd", "--catalog", str(tmp_path)])
    assert planned.exit_code == 0, planned.output
    assert "# Migration plan of customer `migstd`" in planned.output and "Plan only" in planned.output
    applied = runner.invoke(app, ["migrate", "migstd", "--apply", "--catalog", str(tmp_path)])
    assert applied.exit_code == 0, applied.output
    assert "already on workload identity: nothing to do, nothing written" in applied.output
    assert "pod_identity:\n  mode: workload-identity" in applied.output
    assert writes_of(sandbox, standard, mark) == []
    missing = runner.invoke(app, ["migrate", "nobody", "--catalog", str(tmp_path)])
    assert missing.exit_code == 2 and "no customer named 'nobody'" in missing.output


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


def test_a_failed_cluster_update_removes_nothing_and_the_next_run_converges(sandbox: SandboxProcess) -> None:
    ctx = onboarded_on_pod_identity(sandbox, "migfail", "aad-pod-identity-managed", feature_on=False)
    cluster = discover_cluster(ctx)
    assert cluster.oidc_issuer_url is None
    sandbox.set_faults(
        [
            {
                "operation": "managedcluster.update",
                "path": cluster.cluster_name,
                "code": "InternalOperationError",
                "message": "the update of the cluster failed (injected)",
            }
        ]
    )
    mark = sandbox.mark()
    try:
        with pytest.raises(OnboardingError) as failed:
            migrate_to_workload_identity(ctx, dry_run=False)
    finally:
        sandbox.clear_faults()
    assert "enable OIDC issuer and workload identity on cluster migfailaks" in str(failed.value)
    assert "the update of the cluster failed" in str(failed.value)
    assert [w for w in writes_of(sandbox, ctx, mark) if "federatedIdentityCredentials" in w] == []
    assert pod_identity_objects(ctx)[aad.BINDINGS], "pod identity stays as it was"
    assert chart_recorded(ctx)

    done = migrate_to_workload_identity(ctx, dry_run=False)
    assert done.details["state"] == "migrated"
    assert any(c.startswith("enabled OIDC issuer and workload identity") for c in done.changed)
    assert discover_cluster(ctx).oidc_issuer_url
    assert_on_workload_identity(ctx)


def test_pods_still_on_pod_identity_stop_the_removal_until_they_move(sandbox: SandboxProcess) -> None:
    """Default: the run names the pods and removes nothing; once the customer's template asks for workload
    identity (its rollout creates pods through the webhook) the next run migrates."""
    ctx = onboarded_on_pod_identity(sandbox, "migpods", "aad-pod-identity-managed")
    cluster = discover_cluster(ctx)
    request = probe_request(ctx, cluster)
    selector = selector_for(ctx, cluster, cluster.app_identity)
    with customer_cluster(ctx, cluster, step="test") as access:
        continuity.deploy_reader(access.api, request, selector=selector)
        collector = continuity.Collector(access.api, request.namespace).start()
        try:
            continuity.wait_for_reads(collector, "pod-identity")
            with pytest.raises(PermanentError) as refused:
                migrate_to_workload_identity(ctx, dry_run=False)
            assert "still take their token from pod identity" in str(refused.value)
            assert f"(Deployment default/{continuity.NAME})" in str(refused.value)
            assert "nothing was removed" in str(refused.value)
            assert pod_identity_objects(ctx)[aad.BINDINGS] and chart_recorded(ctx)

            restarting = ctx.with_settings(migration_restart_workloads=True)
            with pytest.raises(PermanentError) as not_ready:
                migrate_to_workload_identity(restarting, dry_run=False)
            assert f"its pod template lacks the label {wi.USE_LABEL}=true" in str(not_ready.value)

            account = ctx.spec.pod_identity.service_account
            continuity.move_reader_to_workload_identity(
                access.api, request, selector=selector, account=account
            )
            continuity.wait_for_reads(collector, "workload-identity")
            done = migrate_to_workload_identity(ctx, dry_run=False)
        finally:
            lines = collector.stop()
    assert done.details["state"] == "migrated"
    assert pod_identity_objects(ctx) == {aad.IDENTITIES: [], aad.BINDINGS: []}
    assert lines[-1]["path"] == "workload-identity"


def test_continuity_through_the_migration_of_a_cluster_without_workload_identity(
    sandbox: SandboxProcess,
) -> None:
    """A workload reads the storage every PERIOD_S through the whole migration of a cluster that had workload
    identity off: the cluster update, the federation, both proofs, the migration's rollout restart of the workload
    (its pods predate the webhook) and the removal of pod identity. No interval without a successful read may be
    longer than a few read periods."""
    ctx = onboarded_on_pod_identity(
        sandbox, "migcont", "aad-pod-identity-standard", feature_on=False, migration_restart_workloads=True
    )
    cluster = discover_cluster(ctx)
    request = probe_request(ctx, cluster)
    selector = selector_for(ctx, cluster, cluster.app_identity)
    account = ctx.spec.pod_identity.service_account
    with customer_cluster(ctx, cluster, step="test") as access:
        # The workload's template already asks for workload identity (the sandbox admits a pod whose service
        # account does not exist yet; Kubernetes would not): its pod gets no token while the cluster has the
        # webhook off, so it reads through pod identity until the migration restarts it.
        continuity.deploy_reader(access.api, request, selector=selector, service_account=account)
        collector = continuity.Collector(access.api, request.namespace).start()
        try:
            continuity.wait_for_reads(collector, "pod-identity")
            started = time.time()
            done = migrate_to_workload_identity(ctx, dry_run=False)
            migrated = time.time()
            continuity.wait_for_reads(collector, "workload-identity", count=6)
            time.sleep(5 * continuity.PERIOD_S)
        finally:
            lines = collector.stop()
    ended = time.time()
    assert done.details["state"] == "migrated"
    assert f"restarted Deployment default/{continuity.NAME}" in done.changed
    assert any(c.startswith("enabled OIDC issuer and workload identity") for c in done.changed)
    during = [line for line in lines if line["t"] >= started]
    gap = continuity.longest_gap(during, until=ended)
    paths = sorted({line["path"] for line in during if line["ok"]})
    print(
        f"\nfigure migration_continuity_longest_gap_s={gap:.2f} reads={len(during)} "
        f"migration_s={migrated - started:.1f} period_s={continuity.PERIOD_S}"
    )
    assert paths == ["pod-identity", "workload-identity"]
    assert [line for line in during if not line["ok"]] == [], "no read failed"
    assert gap < 6 * continuity.PERIOD_S, f"{gap:.2f} s without a successful read"
    after = [line for line in lines if line["t"] > migrated]
    assert after and all(line["path"] == "workload-identity" for line in after)


def test_a_run_stopped_in_the_middle_of_the_removal_converges_on_the_next(sandbox: SandboxProcess) -> None:
    """The scale set update fails after the record, the objects and the chart went: the next run proves workload
    identity again (pod identity's binding is gone: that proof passed in the run that removed it) and finishes."""
    ctx = onboarded_on_pod_identity(
        sandbox,
        "migstop",
        "aad-pod-identity-managed",
        migration_remove_scale_set_identity=True,
        sdk_retry_total=0,
    )
    sandbox.set_faults(
        [
            {
                "status": 500,
                "code": "InternalServerError",
                "method": "PATCH",
                "path": r"/virtualMachineScaleSets/",
                "count": 100,
            }
        ]
    )
    try:
        with pytest.raises(OnboardingError) as stopped:
            migrate_to_workload_identity(ctx, dry_run=False)
    finally:
        sandbox.clear_faults()
    assert "remove migstopaks-identity from scale set" in str(stopped.value)
    assert pod_identity_objects(ctx) == {aad.IDENTITIES: [], aad.BINDINGS: []}
    assert_on_workload_identity(ctx)

    done = migrate_to_workload_identity(ctx, dry_run=False)
    assert done.details["state"] == "migrated"
    assert "pod identity proof skipped: the product's AzureIdentityBinding is gone already" in done.unchanged
    assert done.details["workload_identity_proof"]["verified"] is True
    assert [c for c in done.changed if not c.startswith("removed migstopaks-identity from scale set")] == []
    mark = sandbox.mark()
    assert migrate_to_workload_identity(ctx, dry_run=False).details["state"] == "already-migrated"
    assert writes_of(sandbox, ctx, mark) == []
