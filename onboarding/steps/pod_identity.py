"""Step 5: pod identity in the cluster.

aad-pod-identity (managed or standard mode): the chart's release (helm, only when version or values differ) and an
AzureIdentity + AzureIdentityBinding for every identity the node pools carry. Azure AD Workload Identity: a
federated identity credential on the application's identity for the cluster's OIDC issuer and the service
account, and that service account (annotated with the identity's client id) in its namespace.
"""

from __future__ import annotations

from azure.mgmt.msi import ManagedServiceIdentityClient

from ..azure import federated_credentials
from ..changes import Change
from ..cluster import ClusterInfo, IdentityRef
from ..context import CustomerContext
from ..errors import PermanentError
from ..helm import chart_values, ensure_release
from ..ids import ResourceId
from ..kube import pod_identity as aad
from ..kube import workload_identity as wi
from ..kube.kubeconfig import ClusterAccess, customer_cluster
from ..kube.objects import ensure_namespace
from ..models import PodIdentityMode
from ..results import StepResult
from . import StepRecorder
from .migration import follow

STEP = "install_pod_identity"


def selector_for(ctx: CustomerContext, cluster: ClusterInfo, identity: IdentityRef) -> str:
    """The aadpodidbinding value of an identity: the spec's selector for the application's identity, else its name."""
    configured = ctx.spec.pod_identity.selector
    if configured and ResourceId(identity.resource_id) == ResourceId(cluster.app_identity.resource_id):
        return configured
    return aad.default_selector(identity.name)


def install_pod_identity(ctx: CustomerContext, cluster: ClusterInfo, *, dry_run: bool = False) -> StepResult:
    """A customer the catalog has on aad-pod-identity whose cluster records a migration to workload identity is
    onboarded in workload identity mode (``steps/migration.py``)."""
    rec = StepRecorder(ctx, STEP, dry_run=dry_run)
    if ctx.spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY:
        _workload_identity(ctx, cluster, rec)
    else:
        with customer_cluster(ctx, cluster, step=STEP) as access:
            ctx = follow(ctx, access, rec, step=STEP)
            if ctx.spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY:
                _workload_identity(ctx, cluster, rec, access)
            else:
                _aad_pod_identity(ctx, cluster, access, rec)
    rec.result.details.update(
        mode=ctx.spec.pod_identity.mode.value, namespace=ctx.spec.pod_identity.namespace
    )
    return rec.finish()


def _aad_pod_identity(
    ctx: CustomerContext, cluster: ClusterInfo, access: ClusterAccess, rec: StepRecorder
) -> None:
    spec = ctx.spec
    values = chart_values(spec.chart, spec.pod_identity.mode)
    outcome = ensure_release(
        settings=ctx.settings,
        kubeconfig=access.kubeconfig_path,
        chart=spec.chart,
        values=values,
        customer=spec.name,
        step=STEP,
        dry_run=rec.dry_run,
    )
    what = f"helm release {outcome.namespace}/{outcome.release} (chart {spec.chart.name} {outcome.chart_version})"
    note = f" ({outcome.reason})" if outcome.action is not Change.UNCHANGED else ""
    rec.change(what, outcome.action, note)
    rec.result.details["helm"] = {
        "action": outcome.action,
        "revision": outcome.revision,
        "seconds": round(outcome.seconds, 2),
        "values": values,
    }
    namespace = spec.pod_identity.namespace
    rec.change(
        f"namespace {namespace}",
        ensure_namespace(access.api, name=namespace, customer=spec.name, step=STEP, dry_run=rec.dry_run),
    )
    selectors = {}
    for identity in cluster.identities:
        selector = selector_for(ctx, cluster, identity)
        selectors[identity.name] = selector
        if outcome.action is Change.WOULD_INSTALL:
            # the CRDs come with the chart: no object can exist yet, each would be created
            for kind, name in (
                ("AzureIdentity", aad.k8s_name(identity.name)),
                ("AzureIdentityBinding", aad.binding_name(identity.name)),
            ):
                rec.change(f"{kind} {namespace}/{name}", Change.WOULD_CREATE)
            continue
        changes = aad.ensure_pod_identity(
            access.api,
            identity,
            namespace=namespace,
            selector=selector,
            customer=spec.name,
            step=STEP,
            dry_run=rec.dry_run,
        )
        for what, change in changes.items():
            rec.change(what, change)
    rec.result.details["selectors"] = selectors


def _workload_identity(
    ctx: CustomerContext, cluster: ClusterInfo, rec: StepRecorder, access: ClusterAccess | None = None
) -> None:
    """The federated credential, then the namespace and service account (through ``access`` when the caller has
    the cluster open already)."""
    spec = ctx.spec
    if not cluster.oidc_issuer_url:
        raise PermanentError(
            f"cluster {cluster.cluster_name} has no OIDC issuer",
            customer=spec.name,
            step=STEP,
            hint="enable the OIDC issuer and workload identity on the cluster "
            "(oidcIssuerProfile.enabled, securityProfile.workloadIdentity.enabled)",
        )
    namespace, account = spec.pod_identity.namespace, spec.pod_identity.service_account
    identity = cluster.app_identity
    name = wi.credential_name(customer=spec.name, namespace=namespace, service_account=account)
    change = federated_credentials.ensure_federated_credential(
        ctx.client(ManagedServiceIdentityClient),
        identity,
        name=name,
        issuer=cluster.oidc_issuer_url,
        sub=wi.subject(namespace, account),
        customer=spec.name,
        step=STEP,
        dry_run=rec.dry_run,
    )
    rec.change(f"federated identity credential {name} on {identity.name}", change)
    rec.result.details["federated_credential"] = {
        "name": name,
        "issuer": cluster.oidc_issuer_url,
        "subject": wi.subject(namespace, account),
    }
    if access is None:
        with customer_cluster(ctx, cluster, step=STEP) as opened:
            _service_account(ctx, rec, opened, identity)
    else:
        _service_account(ctx, rec, access, identity)


def _service_account(
    ctx: CustomerContext, rec: StepRecorder, access: ClusterAccess, identity: IdentityRef
) -> None:
    spec = ctx.spec
    namespace, account = spec.pod_identity.namespace, spec.pod_identity.service_account
    rec.change(
        f"namespace {namespace}",
        ensure_namespace(access.api, name=namespace, customer=spec.name, step=STEP, dry_run=rec.dry_run),
    )
    rec.change(
        f"ServiceAccount {namespace}/{account}",
        wi.ensure_service_account(
            access.api,
            identity,
            namespace=namespace,
            name=account,
            customer=spec.name,
            step=STEP,
            dry_run=rec.dry_run,
        ),
    )
