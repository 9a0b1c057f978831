"""The cluster side of onboarding against the sandbox: pod identity (aad-pod-identity managed and standard mode,
workload identity) and storage access proven from a probe Job, re-runs that write nothing, and diagnoses."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi

from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.errors import PermanentError
from onboarding.helm import make_client, run_sync
from onboarding.kube.kubeconfig import customer_cluster
from onboarding.kube.objects import CUSTOMER_LABEL, MANAGED_BY_LABEL
from onboarding.kube.pod_identity import GROUP, VERSION, binding_name, k8s_name
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.results import StepResult
from onboarding.settings import Settings
from onboarding.steps.attach import attach_identities
from onboarding.steps.discover import discover_cluster
from onboarding.steps.managed_app import ensure_managed_app
from onboarding.steps.pod_identity import install_pod_identity
from onboarding.steps.roles import ensure_node_rg_roles
from onboarding.steps.verify import verify_storage_access
from sandbox.client import SandboxProcess
from sandbox.seed import PREVIOUS_DEFINITION_ID
from tools.customers import register_customer

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("steps-cluster")]

REPO = Path(__file__).resolve().parents[2]
Onboarded = tuple[CustomerContext, ClusterInfo]


def _settings() -> Settings:
    helm = shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm")
    return Settings(
        helm_executable=helm,
        poll_interval_s=0.2,
        retry_base_delay_s=0.2,
        retry_max_delay_s=2.0,
        propagation_budget_s=60.0,
        probe_timeout_s=60.0,
    )


def _spec(name: str, mode: str, **pod_identity: Any) -> CustomerSpec:
    return load_customer_spec(
        {
            "name": name,
            "tenant_id": str(uuid.uuid4()),
            "subscription_id": str(uuid.uuid4()),
            "credential_source": "application-tokens",
            "managed_application": {
                "resource_group": f"{name}-app",
                "name": f"{name}-ama",
                "parameters": {"aks_name": f"{name}aks", "node_resource_group": f"{name}-ama-aks-rg"},
            },
            "pod_identity": {"mode": mode, **pod_identity},
            "storage": {"filesystem": "data", "directory": "folder1", "file": "t1.csv"},
        }
    )


def _onboard(box: SandboxProcess, spec: CustomerSpec) -> Onboarded:
    register_customer(box, spec)
    ctx = CustomerContext(spec, _settings())
    ensure_managed_app(ctx, dry_run=False)
    cluster = discover_cluster(ctx)
    ensure_node_rg_roles(ctx, cluster, dry_run=False)
    for vmss_id in cluster.scale_sets:
        attach_identities(ctx, cluster, vmss_id, dry_run=False)
    return ctx, cluster


def _timed(fn: Callable[[], StepResult]) -> tuple[StepResult, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def managed(sandbox: SandboxProcess) -> Onboarded:
    return _onboard(sandbox, _spec("pimanaged", "aad-pod-identity-managed", namespace="apps"))


def test_aad_pod_identity_managed_mode_end_to_end(sandbox: SandboxProcess, managed: Onboarded) -> None:
    ctx, cluster = managed
    mark = sandbox.mark()
    plan = install_pod_identity(ctx, cluster, dry_run=True)
    assert plan.dry_run and any("would install" in c for c in plan.changed), plan
    assert verify_storage_access(ctx, cluster, dry_run=True).details["plan"].startswith("run a probe Job")
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []

    first, seconds = _timed(lambda: install_pod_identity(ctx, cluster, dry_run=False))
    print(
        f"\nfigure install_pod_identity_first_run {seconds:.2f} s (helm {first.details['helm']['seconds']} s)"
    )
    assert first.details["helm"]["action"] == "installed"
    assert first.details["helm"]["values"] == {
        "nmi": {"allowNetworkPluginKubenet": True},
        "operationMode": "managed",
        "forceNamespaced": "true",
    }
    name = k8s_name(cluster.app_identity.name)
    assert f"AzureIdentity apps/{name}: created" in first.changed
    assert f"AzureIdentityBinding apps/{binding_name(cluster.app_identity.name)}: created" in first.changed
    assert "namespace apps: created" in first.changed

    with customer_cluster(ctx, cluster, step="test") as access:
        custom = CustomObjectsApi(access.api)
        identity = custom.get_namespaced_custom_object(GROUP, VERSION, "apps", "azureidentities", name)
        binding = custom.get_namespaced_custom_object(
            GROUP, VERSION, "apps", "azureidentitybindings", binding_name(cluster.app_identity.name)
        )
        assert identity["spec"] == {
            "type": 0,
            "resourceID": cluster.app_identity.resource_id,
            "clientID": cluster.app_identity.client_id,
        }
        assert identity["metadata"]["labels"] == {
            MANAGED_BY_LABEL: "ama-onboarding",
            CUSTOMER_LABEL: "pimanaged",
        }
        assert binding["spec"] == {
            "azureIdentity": name,
            "selector": first.details["selectors"][cluster.app_identity.name],
        }
        versions = (identity["metadata"]["resourceVersion"], binding["metadata"]["resourceVersion"])

    verified, seconds = _timed(lambda: verify_storage_access(ctx, cluster, dry_run=False))
    probe = verified.details["probe"]
    print(f"figure verify_storage_access {seconds:.2f} s (probe job create->complete {probe['seconds']} s)")
    assert verified.details["verified"] is True
    assert "folder1/t1.csv" in probe["paths"] and probe["file_bytes"] > 0 and probe["first_line"]
    assert probe["identity"]["xms_mirid"].lower() == cluster.app_identity.resource_id.lower()

    # the second run reads, compares and writes nothing: no ARM writes, no helm upgrade, no Kubernetes writes
    mark = sandbox.mark()
    again, seconds = _timed(lambda: install_pod_identity(ctx, cluster, dry_run=False))
    print(f"figure install_pod_identity_rerun {seconds:.2f} s")
    assert again.changed == [], again.changed
    assert again.details["helm"]["action"] == "unchanged" and again.details["helm"]["revision"] == 1
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []
    with customer_cluster(ctx, cluster, step="test") as access:
        custom = CustomObjectsApi(access.api)
        assert versions == (
            custom.get_namespaced_custom_object(GROUP, VERSION, "apps", "azureidentities", name)["metadata"][
                "resourceVersion"
            ],
            custom.get_namespaced_custom_object(
                GROUP, VERSION, "apps", "azureidentitybindings", binding_name(cluster.app_identity.name)
            )["metadata"]["resourceVersion"],
        )
        revision = run_sync(
            make_client(settings=ctx.settings, kubeconfig=access.kubeconfig_path).get_current_revision(
                "aad-pod-identity", namespace="kube-system"
            )
        )
        assert revision.revision == 1
        # the probe cleaned up after itself
        core = CoreV1Api(access.api)
        leftovers = core.list_namespaced_pod("apps", label_selector="ama-onboarding/probe-run").items
        leftovers += core.list_namespaced_config_map("apps", label_selector="ama-onboarding/probe-run").items
        assert [o.metadata.name for o in leftovers] == []


def test_probe_without_binding_label_names_the_binding(managed: Onboarded) -> None:
    ctx, cluster = managed
    install_pod_identity(ctx, cluster, dry_run=False)
    with pytest.raises(PermanentError) as err:
        verify_storage_access(ctx, cluster, dry_run=False, label_pod=False)
    message = str(err.value)
    print(f"\n{message}")
    assert f"AzureIdentityBinding apps/{binding_name(cluster.app_identity.name)}" in message
    assert "aadpodidbinding" in message


def test_missing_file_is_permanent_and_named(managed: Onboarded) -> None:
    ctx, cluster = managed
    install_pod_identity(ctx, cluster, dry_run=False)
    spec = ctx.spec.model_copy(
        update={"storage": ctx.spec.storage.model_copy(update={"file": "missing.csv"})}
    )
    missing = CustomerContext(spec, ctx.settings)
    started = time.monotonic()
    with pytest.raises(PermanentError) as err:
        verify_storage_access(missing, cluster, dry_run=False)
    print(f"\n{err.value}")
    assert "data/folder1/missing.csv" in str(err.value)
    assert time.monotonic() - started < 30  # not retried as if it were propagation


def test_chart_version_that_does_not_exist_is_permanent(managed: Onboarded) -> None:
    ctx, cluster = managed
    spec = ctx.spec.model_copy(update={"chart": ctx.spec.chart.model_copy(update={"version": "9.9.9"})})
    with pytest.raises(PermanentError) as err:
        install_pod_identity(CustomerContext(spec, ctx.settings), cluster, dry_run=False)
    assert "chart aad-pod-identity version 9.9.9 not found in" in str(err.value)
    assert "chart.repository/version" in str(err.value)


def test_aad_pod_identity_standard_mode(sandbox: SandboxProcess) -> None:
    ctx, cluster = _onboard(sandbox, _spec("pistandard", "aad-pod-identity-standard"))
    first = install_pod_identity(ctx, cluster, dry_run=False)
    assert first.details["helm"]["values"]["operationMode"] == "standard"
    assert first.details["helm"]["values"]["forceNamespaced"] == "false"
    verified = verify_storage_access(ctx, cluster, dry_run=False)
    assert verified.details["verified"] is True
    mark = sandbox.mark()
    again = install_pod_identity(ctx, cluster, dry_run=False)
    assert again.changed == [] and sandbox.arm_writes(mark, ctx.spec.subscription_id) == []


def test_workload_identity(sandbox: SandboxProcess) -> None:
    ctx, cluster = _onboard(
        sandbox,
        _spec("piworkload", "workload-identity", namespace="analytics", service_account="storage-reader"),
    )
    assert cluster.oidc_issuer_url
    mark = sandbox.mark()
    first = install_pod_identity(ctx, cluster, dry_run=False)
    fic = first.details["federated_credential"]
    assert fic["subject"] == "system:serviceaccount:analytics:storage-reader"
    assert fic["issuer"] == cluster.oidc_issuer_url
    assert any(c.startswith("federated identity credential") and c.endswith("created") for c in first.changed)
    assert "ServiceAccount analytics/storage-reader: created" in first.changed
    assert [
        w for w in sandbox.arm_writes(mark, ctx.spec.subscription_id) if "federatedIdentityCredentials" in w
    ]
    with customer_cluster(ctx, cluster, step="test") as access:
        account = CoreV1Api(access.api).read_namespaced_service_account("storage-reader", "analytics")
        assert (
            account.metadata.annotations["azure.workload.identity/client-id"]
            == cluster.app_identity.client_id
        )

    verified = verify_storage_access(ctx, cluster, dry_run=False)
    assert verified.details["verified"] is True
    assert (
        verified.details["probe"]["identity"]["xms_mirid"].lower() == cluster.app_identity.resource_id.lower()
    )

    mark = sandbox.mark()
    again = install_pod_identity(ctx, cluster, dry_run=False)
    assert again.changed == [], again.changed
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []


def test_storage_role_propagation_is_waited_for_then_permanent(sandbox: SandboxProcess) -> None:
    # On package 1.1.0, whose template does not grant Storage Blob Data Reader (1.2.0's does).
    spec = _spec("piprop", "aad-pod-identity-managed")
    app = spec.managed_application.model_copy(update={"definition_id": PREVIOUS_DEFINITION_ID})
    spec = spec.model_copy(
        update={
            "managed_application": app,
            "storage": spec.storage.model_copy(update={"grant_reader": False}),
        }
    )
    ctx, cluster = _onboard(sandbox, spec)
    install_pod_identity(ctx, cluster, dry_run=False)

    # no data role at all: 403 is blamed on propagation until the budget runs out, then it is permanent
    impatient = CustomerContext(spec, _settings().model_copy(update={"propagation_budget_s": 2.0}))
    started = time.monotonic()
    with pytest.raises(PermanentError) as err:
        verify_storage_access(impatient, cluster, dry_run=False)
    print(f"\n{err.value}")
    assert "propagation budget" in str(err.value) and "Storage Blob Data Reader" in str(err.value)
    assert 2.0 <= time.monotonic() - started < 30

    # the role is granted now and takes a few seconds to take effect: polled with backoff, no blind sleep
    granting = CustomerContext(
        spec.model_copy(update={"storage": spec.storage.model_copy(update={"grant_reader": True})}),
        ctx.settings,
    )
    sandbox.set_timing(role_propagation_s=3.0)
    try:
        verified = verify_storage_access(granting, cluster, dry_run=False)
    finally:
        sandbox.reset_timing()
    attempts = verified.details["probe_attempts"]
    print(f"figure storage_propagation_wait {verified.waited_s:.2f} s over {len(attempts)} probe runs")
    assert verified.details["verified"] is True
    assert any(c.startswith("created role assignment") for c in verified.changed)
    assert len(attempts) >= 2 and attempts[0]["status"] == 403
    assert 1.0 <= verified.waited_s < 30
