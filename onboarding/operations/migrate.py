"""Migrating one customer from aad-pod-identity to Azure AD Workload Identity, with no moment without access.

In order, each part a reconcile (a second run writes nothing; a run that stops anywhere converges on the next):

1. read the cluster (discovery);
2. enable the OIDC issuer and workload identity on the cluster when they are off (the publisher PUTs the managed
   cluster as read with both flags set, an LRO waited for under the step's deadline); additive: pod identity
   keeps working through it;
3. the federated identity credential on the application's identity and the annotated service account, as
   workload identity onboarding makes them (``steps/pod_identity.py``); additive too;
4. read the pod identity side (the product's labelled AzureIdentity/Binding, other bindings, the chart release,
   the record, the scale sets) and plan its removal; nothing to add and nothing to remove: "already-migrated";
5. prove storage access from a probe pod through workload identity, and, while the product's binding is there,
   through pod identity too (``steps/verify.py``): both paths work before anything goes;
6. refuse while a running pod selected by one of the product's bindings has no federated token in its spec (it
   was created before the webhook could mutate it, and would lose access): name them, or, with
   ``migration_restart_workloads``, rollout-restart their Deployments when those templates ask for workload
   identity, and wait until no such pod is left;
7. record the new mode in the cluster (``kube/migration_record.py``), so the nightly reconcile follows it even
   while the catalog still says pod identity;
8. remove the product's AzureIdentityBindings and AzureIdentities, the chart release when the product installed
   it and no other binding is left, and (``migration_remove_scale_set_identity``) the application's identity
   from the scale sets.

A failed proof or refusal raises before step 7: nothing is removed, pod identity works as before, and the error
says why. Steps 2 and 3 only add what workload identity needs, so they are kept (a re-run finds them done).
The run's report carries the catalog change to commit (``details["catalog_change"]``).
"""

from __future__ import annotations

import time

from azure.mgmt.containerservice import ContainerServiceClient
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from ..azure import aks
from ..changes import Change
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..deadline import remaining
from ..errors import OnboardingError, PermanentError, TransientError
from ..ids import ResourceId
from ..kube import migration_record
from ..kube import pod_identity as aad
from ..kube import workload_identity as wi
from ..kube.cleanup import CUSTOM_KINDS, OwnedObject, delete_owned, find_owned, helm_release_recorded
from ..kube.kubeconfig import ClusterAccess, customer_cluster
from ..kube.objects import kube_errors, owned_by
from ..kube.pod_identity_users import PodUser, pod_identity_users, rollout_restart, template_problem
from ..models import PodIdentityMode
from ..results import StepResult
from ..steps import StepRecorder
from ..steps.detach import detach_identities
from ..steps.discover import discover_cluster
from ..steps.migration import as_mode, catalog_change
from ..steps.pod_identity import install_pod_identity, selector_for
from ..steps.uninstall import uninstall_chart
from ..steps.verify import verify_storage_access

STEP = "migrate_to_workload_identity"
MIGRATED, ALREADY_MIGRATED, PLANNED = "migrated", "already-migrated", "planned"
KEPT = "nothing was removed: pod identity stays as it was"


def _enable_cluster_features(ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo) -> ClusterInfo:
    client = ctx.client(ContainerServiceClient)
    rg, name = str(ResourceId(cluster.cluster_id).resource_group), cluster.cluster_name
    with ctx.errors(STEP, f"read AKS cluster {name}"):
        current = aks.get_cluster(client, rg, name)
    what = f"OIDC issuer and workload identity on cluster {name}"
    if aks.workload_identity_enabled(current):
        rec.unchanged(f"{what} enabled (issuer {aks.oidc_issuer_url(current)})")
        return cluster.model_copy(update={"oidc_issuer_url": aks.oidc_issuer_url(current)})
    rec.changed(f"enabled {what}", f"enable {what}")
    if rec.dry_run:
        return cluster
    started = time.monotonic()
    with ctx.errors(STEP, f"enable {what}"):
        updated = aks.enable_workload_identity(
            client, current, timeout_s=remaining(ctx.settings.deployment_timeout_s)
        )
    rec.waited(time.monotonic() - started)
    if not aks.workload_identity_enabled(updated):
        raise TransientError(
            f"cluster {name} does not show {what} enabled after its update "
            f"(provisioning state {updated.provisioning_state})",
            customer=ctx.spec.name,
            step=STEP,
            hint=f"{KEPT}; the migration runs again and reads the cluster again",
        )
    return cluster.model_copy(update={"oidc_issuer_url": aks.oidc_issuer_url(updated)})


def _federation(wi_ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo) -> None:
    """Federated credential + service account (workload identity onboarding's own step)."""
    if cluster.oidc_issuer_url:
        rec.include(install_pod_identity(wi_ctx, cluster, dry_run=rec.dry_run), as_detail="workload_identity")
        return
    spec = wi_ctx.spec.pod_identity
    fic = wi.credential_name(
        customer=wi_ctx.spec.name, namespace=spec.namespace, service_account=spec.service_account
    )
    rec.change(
        f"federated identity credential {fic} on {cluster.app_identity.name} (for the issuer enabled first)",
        Change.WOULD_CREATE,
    )
    rec.change(f"ServiceAccount {spec.namespace}/{spec.service_account}", Change.WOULD_CREATE)


def _product_pod_identity(ctx: CustomerContext, access: ClusterAccess) -> list[OwnedObject]:
    """The product's labelled AzureIdentityBindings then AzureIdentities."""
    kinds = dict(CUSTOM_KINDS)
    return [o for o in find_owned(access.api, customer=ctx.spec.name, step=STEP) if o.kind in kinds]


def _foreign_bindings(ctx: CustomerContext, access: ClusterAccess) -> list[str]:
    """Every AzureIdentityBinding in the cluster that is not this customer's (someone else's pods use NMI)."""
    with kube_errors(customer=ctx.spec.name, step=STEP, action="list AzureIdentityBindings"):
        try:
            listed = CustomObjectsApi(access.api).list_cluster_custom_object(
                aad.GROUP, aad.VERSION, aad.BINDINGS
            )
        except ApiException as exc:
            if exc.status == 404:
                return []  # the CRD is not installed: no binding at all
            raise
    return [
        f"{b['metadata'].get('namespace')}/{b['metadata']['name']}"
        for b in listed.get("items") or []
        if not owned_by(b, ctx.spec.name)
    ]


def _chart(ctx: CustomerContext, rec: StepRecorder, access: ClusterAccess) -> None:
    chart = ctx.spec.chart
    what = f"helm release {chart.namespace}/{chart.release}"
    if not helm_release_recorded(
        access.api, release=chart.release, namespace=chart.namespace, customer=ctx.spec.name, step=STEP
    ):
        return
    others = _foreign_bindings(ctx, access)
    if others:
        rec.unchanged(f"{what} kept: AzureIdentityBinding {', '.join(others)} (not ours) still needs NMI")
        return
    uninstall_chart(ctx, rec, access, step=STEP)


def _record(ctx: CustomerContext, rec: StepRecorder, access: ClusterAccess) -> None:
    if ctx.spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY:
        return  # the catalog says so already: nothing to bridge
    namespace = ctx.spec.pod_identity.namespace
    kw = {"namespace": namespace, "customer": ctx.spec.name, "step": STEP}
    found = migration_record.read_record(access.api, **kw)
    if found is not None and found.mode is PodIdentityMode.WORKLOAD_IDENTITY:
        rec.unchanged(f"migration recorded in {found}")
        return
    what = f"ConfigMap {namespace}/{migration_record.NAME} (mode workload-identity)"
    rec.changed(f"recorded the migration in {what}", f"record the migration in {what}")
    if not rec.dry_run:
        migration_record.write_record(access.api, **kw)


def _remove_pod_identity(
    ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo, access: ClusterAccess
) -> None:
    """Steps 7 and 8 of the module doc: the record first, then what the product added for pod identity."""
    _record(ctx, rec, access)
    for obj in _product_pod_identity(ctx, access):
        rec.changed(f"deleted {obj}", f"delete {obj}")
        if not rec.dry_run:
            delete_owned(access.api, obj, customer=ctx.spec.name, step=STEP)
    _chart(ctx, rec, access)
    if ctx.settings.migration_remove_scale_set_identity:
        detach_identities(ctx, rec, cluster, [cluster.app_identity.resource_id], step=STEP)


def _prove(
    ctx: CustomerContext, wi_ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo, binding: bool
) -> None:
    """Storage from a pod through workload identity, then through pod identity while the product's binding is
    there (a run that stopped after removing it proved it already)."""
    aad_mode = (
        PodIdentityMode.AAD_POD_IDENTITY_MANAGED
        if ctx.spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY
        else ctx.spec.pod_identity.mode
    )
    proofs = [("workload identity", wi_ctx, "workload_identity_proof")]
    if binding:
        proofs.append(
            ("pod identity", ctx.for_spec(as_mode(ctx.spec, aad_mode, pod_proof=True)), "pod_identity_proof")
        )
    else:
        rec.unchanged("pod identity proof skipped: the product's AzureIdentityBinding is gone already")
    for path, proof_ctx, key in proofs:
        try:
            rec.include(verify_storage_access(proof_ctx, cluster, grant=False), as_detail=key)
        except OnboardingError as exc:
            raise exc.explain(f"storage through {path} is not proven, so {KEPT}") from None


def _users(ctx: CustomerContext, cluster: ClusterInfo, access: ClusterAccess) -> list[PodUser]:
    selectors = {selector_for(ctx, cluster, identity) for identity in cluster.identities}
    return pod_identity_users(access.api, selectors, customer=ctx.spec.name, step=STEP)


def _move_pods(ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo, access: ClusterAccess) -> None:
    """Step 6 of the module doc: no running pod may still depend on pod identity when it goes."""
    users = _users(ctx, cluster, access)
    if not users:
        rec.unchanged("no running pod takes its token from pod identity any more")
        return
    names = ", ".join(str(u) for u in users)
    account = ctx.spec.pod_identity.service_account
    if not ctx.settings.migration_restart_workloads:
        raise PermanentError(
            f"running pods still take their token from pod identity and would lose storage access: {names}; {KEPT}",
            customer=ctx.spec.name,
            step=STEP,
            hint=f"restart them (kubectl rollout restart) once their pod templates carry the label "
            f"{wi.USE_LABEL}=true and serviceAccountName {account}, or run the migration with "
            "ONBOARDING_MIGRATION_RESTART_WORKLOADS=true (restart_workloads) to restart their Deployments",
        )
    problems = [f"{u} is not owned by a Deployment" for u in users if u.deployment is None]
    deployments = sorted({(u.namespace, u.deployment) for u in users if u.deployment})
    for namespace, name in deployments:
        user = next(u for u in users if (u.namespace, u.deployment) == (namespace, name))
        why = template_problem(access.api, user, service_account=account, customer=ctx.spec.name, step=STEP)
        if why:
            problems.append(f"Deployment {namespace}/{name}: {why}")
    if problems:
        raise PermanentError(
            f"restarting would not move these pods to workload identity: {'; '.join(problems)}; {KEPT}",
            customer=ctx.spec.name,
            step=STEP,
            hint=f"give their pod templates the label {wi.USE_LABEL}=true and serviceAccountName {account} "
            "(or delete pods no Deployment owns), then run the migration again",
        )
    for namespace, name in deployments:
        rollout_restart(access.api, namespace, str(name), customer=ctx.spec.name, step=STEP)
        rec.changed(f"restarted Deployment {namespace}/{name}", f"restart Deployment {namespace}/{name}")
    _, waited = ctx.poll(
        lambda: True if not _users(ctx, cluster, access) else None,
        timeout_s=ctx.settings.probe_timeout_s,
        what="the restarted Deployments' pods to be replaced by pods with a federated token",
    )
    rec.waited(waited)


def migrate_to_workload_identity(ctx: CustomerContext, *, dry_run: bool = True) -> StepResult:
    """Plan (``dry_run``, the default) or run the migration (module doc). ``details["state"]``: "migrated" (this
    run finished it), "already-migrated" (nothing to do, nothing written; a plan says so too) or "planned"; a
    failure raises the
    product's OnboardingError saying what to do, and then nothing was removed."""
    rec = StepRecorder(ctx, STEP, dry_run=dry_run)
    cluster = discover_cluster(ctx)
    ctx = ctx.for_cluster(cluster)
    wi_ctx = ctx.for_spec(as_mode(ctx.spec, PodIdentityMode.WORKLOAD_IDENTITY, pod_proof=True))
    cluster = _enable_cluster_features(ctx, rec, cluster)
    _federation(wi_ctx, rec, cluster)
    change = catalog_change(ctx.spec, str(ctx.settings.catalog_dir))
    with customer_cluster(ctx, cluster, step=STEP) as access:
        plan = StepRecorder(ctx, STEP, dry_run=True)
        _remove_pod_identity(ctx, plan, cluster, access)
        if not rec.result.changed and not plan.result.changed:  # a plan of a finished customer says so too
            rec.result.unchanged.extend(plan.result.unchanged)
            return rec.finish(state=ALREADY_MIGRATED, catalog_change=change)
        if dry_run:
            rec.include(plan.result, as_detail="removal")
            users = _users(ctx, cluster, access)
            if users:
                rec.unchanged(
                    "the real run refuses to remove pod identity while these pods take their token from it: "
                    + ", ".join(str(u) for u in users)
                )
            return rec.finish(state=PLANNED, catalog_change=change)
        binding = OwnedObject(
            "AzureIdentityBinding",
            ctx.spec.pod_identity.namespace,
            aad.binding_name(cluster.app_identity.name),
        )
        _prove(ctx, wi_ctx, rec, cluster, binding in _product_pod_identity(ctx, access))
        _move_pods(ctx, rec, cluster, access)
        _remove_pod_identity(ctx, rec, cluster, access)
    return rec.finish(state=MIGRATED, catalog_change=change)
