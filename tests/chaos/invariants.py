"""What must hold after any number of faults, crashes and re-runs, checked on the sandbox's final state
(``GET /state``), through each cluster's Kubernetes API (kubeconfig from the product's own helper) and by a dry
run that must plan nothing. Every check is counted; failures are collected and asserted at the end."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import BatchV1Api, CoreV1Api, CustomObjectsApi

from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.kube import pod_identity as aad
from onboarding.kube.kubeconfig import customer_cluster
from onboarding.kube.objects import CUSTOMER_LABEL
from onboarding.kube.probe_job import RUN_LABEL
from onboarding.kube.workload_identity import CLIENT_ID_ANNOTATION, credential_name, subject
from onboarding.models import PodIdentityMode
from onboarding.pipeline import run_onboarding
from onboarding.steps.pod_identity import selector_for
from sandbox.client import SandboxProcess

VMSS = "microsoft.compute/virtualmachinescalesets"
FIC = "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials"
Onboarded = tuple[CustomerContext, ClusterInfo]


@dataclass
class Checks:
    passed: int = 0
    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, ok: bool, what: str) -> None:
        with self._lock:
            if ok:
                self.passed += 1
            else:
                self.failures.append(what)


def scale_set_identities(state: dict[str, Any]) -> dict[str, set[str]]:
    """Scale set id (lower case) -> its user-assigned identity ids (lower case)."""
    return {
        r["id"].lower(): {i.lower() for i in ((r.get("identity") or {}).get("userAssignedIdentities") or {})}
        for r in state["resources"]
        if r["type"].lower() == VMSS
    }


def check_scale_sets(
    checks: Checks, before: dict[str, Any], after: dict[str, Any], clusters: list[ClusterInfo]
) -> None:
    """Nothing an identity had is lost (snapshot and what AKS put there); every wanted identity is attached."""
    now = scale_set_identities(after)
    for vmss, ids in scale_set_identities(before).items():
        checks.check(ids <= now.get(vmss, set()), f"{vmss} lost {ids - now.get(vmss, set())}")
    for resource in after["resources"]:
        if resource["type"].lower() == VMSS:
            aks = {i.lower() for i in (resource.get("sandbox") or {}).get("aks_identities") or []}
            checks.check(aks <= now[resource["id"].lower()], f"{resource['id']} lost an AKS identity")
    for cluster in clusters:
        wanted = {i.resource_id.lower() for i in cluster.identities}
        for vmss in scale_set_identities_of(after, cluster):
            checks.check(wanted <= now[vmss], f"{vmss} lacks {wanted - now[vmss]}")


def scale_set_identities_of(state: dict[str, Any], cluster: ClusterInfo) -> list[str]:
    node_rg = f"/resourcegroups/{cluster.node_resource_group.lower()}/"
    return [vmss for vmss in scale_set_identities(state) if node_rg in vmss]


def check_unique_assignments(checks: Checks, after: dict[str, Any]) -> None:
    """Exactly one role assignment per scope + role + principal, over the whole cloud."""
    triples = Counter(
        (
            a["properties"]["scope"].lower().rstrip("/"),
            a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower(),
            a["properties"]["principalId"].lower(),
        )
        for a in after["role_assignments"]
    )
    for triple, count in triples.items():
        checks.check(count == 1, f"{count} role assignments for {triple}")


def check_federated_credentials(checks: Checks, after: dict[str, Any], onboarded: list[Onboarded]) -> None:
    """No duplicate federated credentials; workload identity customers have exactly theirs, the others none."""
    fics = [r for r in after["resources"] if r["type"].lower() == FIC]
    seen = Counter(
        (r["id"].lower().rsplit("/federatedidentitycredentials/", 1)[0], r["properties"]["subject"])
        for r in fics
    )
    for key, count in seen.items():
        checks.check(count == 1, f"{count} federated credentials for {key}")
    for ctx, cluster in onboarded:
        parent = f"{cluster.app_identity.resource_id.lower()}/federatedidentitycredentials/"
        mine = [r for r in fics if r["id"].lower().startswith(parent)]
        pod = ctx.spec.pod_identity
        if pod.mode is PodIdentityMode.WORKLOAD_IDENTITY:
            name = credential_name(
                customer=ctx.spec.name, namespace=pod.namespace, service_account=pod.service_account
            )
            expected = [(name, cluster.oidc_issuer_url, subject(pod.namespace, pod.service_account))]
        else:
            expected = []
        found = [(r["name"], r["properties"]["issuer"], r["properties"]["subject"]) for r in mine]
        checks.check(
            found == expected, f"{ctx.spec.name}: federated credentials {found}, expected {expected}"
        )


def check_cluster_objects(checks: Checks, ctx: CustomerContext, cluster: ClusterInfo) -> None:
    """Pod identity objects exactly as the spec says, one deployed helm release, and no probe leftovers."""
    spec = ctx.spec
    with customer_cluster(ctx, cluster, step="invariants") as access:
        core, batch = CoreV1Api(access.api), BatchV1Api(access.api)
        leftovers = [
            f"{kind} {o.metadata.namespace}/{o.metadata.name}"
            for kind, items in (
                ("Job", batch.list_job_for_all_namespaces(label_selector=RUN_LABEL).items),
                ("ConfigMap", core.list_config_map_for_all_namespaces(label_selector=RUN_LABEL).items),
                ("Pod", core.list_pod_for_all_namespaces(label_selector=RUN_LABEL).items),
            )
            for o in items
        ]
        checks.check(not leftovers, f"{spec.name}: probe leftovers {leftovers}")
        namespace = spec.pod_identity.namespace
        if spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY:
            account = core.read_namespaced_service_account(spec.pod_identity.service_account, namespace)
            annotations = account.metadata.annotations or {}
            checks.check(
                annotations.get(CLIENT_ID_ANNOTATION) == cluster.app_identity.client_id,
                f"{spec.name}: service account annotations {annotations}",
            )
            return
        _check_aad_objects(checks, access.api, ctx, cluster)
        releases = core.list_namespaced_secret(
            spec.chart.namespace, label_selector=f"owner=helm,name={spec.chart.release}"
        ).items
        statuses = sorted((s.metadata.labels or {}).get("status", "") for s in releases)
        checks.check(statuses.count("deployed") == 1, f"{spec.name}: helm release revisions {statuses}")


def _check_aad_objects(checks: Checks, api: Any, ctx: CustomerContext, cluster: ClusterInfo) -> None:
    custom = CustomObjectsApi(api)
    namespace = ctx.spec.pod_identity.namespace
    mine = f"{CUSTOMER_LABEL}={ctx.spec.name}"

    def listed(plural: str) -> dict[str, dict[str, Any]]:
        items = custom.list_namespaced_custom_object(
            aad.GROUP, aad.VERSION, namespace, plural, label_selector=mine
        )
        return {o["metadata"]["name"]: o["spec"] for o in items["items"]}

    identities, bindings = listed(aad.IDENTITIES), listed(aad.BINDINGS)
    expected_identities = {
        aad.k8s_name(i.name): {
            "type": aad.USER_ASSIGNED_MSI,
            "resourceID": i.resource_id,
            "clientID": i.client_id,
        }
        for i in cluster.identities
    }
    expected_bindings = {
        aad.binding_name(i.name): {
            "azureIdentity": aad.k8s_name(i.name),
            "selector": selector_for(ctx, cluster, i),
        }
        for i in cluster.identities
    }
    checks.check(identities == expected_identities, f"{ctx.spec.name}: AzureIdentities {identities}")
    checks.check(bindings == expected_bindings, f"{ctx.spec.name}: AzureIdentityBindings {bindings}")


def check_converged(
    checks: Checks, box: SandboxProcess, contexts: list[CustomerContext], threads: int
) -> None:
    """A dry run of the whole onboarding of every customer plans no change, and not one write is sent meanwhile."""
    mark = box.mark()
    with ThreadPoolExecutor(threads) as pool:
        plans = list(pool.map(lambda ctx: run_onboarding(ctx, dry_run=True)[0], contexts))
    for ctx, steps in zip(contexts, plans, strict=True):
        planned = [change for s in steps for change in s.changed]
        checks.check(not planned, f"{ctx.spec.name}: a dry run still plans {planned}")
    writes = box.arm_writes(mark, *(c.spec.subscription_id for c in contexts))
    checks.check(not writes, f"dry runs wrote {writes}")
