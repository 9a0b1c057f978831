"""Offboarding: undo what onboarding did for a customer, and nothing else.

In order: the pod identity objects labelled as this customer's (AzureIdentityBinding, AzureIdentity,
ServiceAccount), the aad-pod-identity release when this product installed it (for a workload identity customer
helm runs only when helm's release records hold one, left from an earlier mode), the workload identity federated
credential (the product's deterministic name), the Event Grid subscriptions named as this product names them
(and its system topics, when nothing else subscribes to them), this product's identities on every node pool scale set (every
other identity stays: the kubelet identity and anything the product did not add), and the role assignments that
are provably ours (``roles.provably_ours``) at the managed and node resource groups and the storage account.
The managed application itself is kept: the customer owns it and deletes it themselves.

A dry run (the default) reads everything and returns the plan; a second real run finds nothing and writes nothing.
"""

from __future__ import annotations

from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient

from ..azure import eventgrid, federated_credentials, roles
from ..azure.identities import same_id
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..kube import workload_identity as wi
from ..kube.cleanup import delete_owned, find_owned, helm_release_recorded
from ..kube.kubeconfig import ClusterAccess, customer_cluster
from ..models import PodIdentityMode
from ..results import StepResult
from ..steps import StepRecorder
from ..steps.assignments import delete_assignments
from ..steps.detach import detach_identities
from ..steps.discover import discover_cluster
from ..steps.events import WatchedGroup, node_rg_refusals, watched_groups
from ..steps.roles import scope_label
from ..steps.uninstall import uninstall_chart
from .audit import grant_scopes, read_made_at

STEP = "offboard_customer"


def _cluster_objects(ctx: CustomerContext, rec: StepRecorder, access: ClusterAccess) -> None:
    for obj in find_owned(access.api, customer=ctx.spec.name, step=STEP):
        rec.changed(f"deleted {obj}", f"delete {obj}")
        if not rec.dry_run:
            delete_owned(access.api, obj, customer=ctx.spec.name, step=STEP)


def _chart(ctx: CustomerContext, rec: StepRecorder, access: ClusterAccess) -> None:
    chart = ctx.spec.chart
    if ctx.spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY and not helm_release_recorded(
        access.api, release=chart.release, namespace=chart.namespace, customer=ctx.spec.name, step=STEP
    ):
        return  # onboarding installs no chart for workload identity; one left from an earlier mode is recorded
    uninstall_chart(ctx, rec, access, step=STEP)


def _federated_credential(ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo) -> None:
    spec = ctx.spec
    name = wi.credential_name(
        customer=spec.name,
        namespace=spec.pod_identity.namespace,
        service_account=spec.pod_identity.service_account,
    )
    msi = ctx.client(ManagedServiceIdentityClient)
    kw = {"name": name, "customer": spec.name, "step": STEP}
    if federated_credentials.read_federated_credential(msi, cluster.app_identity, **kw) is None:
        return
    what = f"federated identity credential {name} on {cluster.app_identity.name}"
    rec.changed(f"deleted {what}", f"delete {what}")
    if not rec.dry_run:
        federated_credentials.delete_federated_credential(msi, cluster.app_identity, **kw)


def _topic(
    ctx: CustomerContext,
    rec: StepRecorder,
    client: EventGridManagementClient,
    group: WatchedGroup,
    topic: str,
) -> None:
    """Delete our subscription on ``topic``, then the topic when it is ours and nothing else subscribes to it."""
    ours = eventgrid.subscription_name(ctx.spec.name)
    timeout = ctx.settings.sdk_call_timeout_s
    with ctx.errors(STEP, f"list event subscriptions of system topic {topic} in {group.label}"):
        found = [str(s.name) for s in eventgrid.subscriptions_of(client, group.name, topic)]
    others = [s for s in found if s != ours]
    if ours in found:
        what = f"event subscription {ours} on {group.label}"
        rec.changed(f"deleted {what}", f"delete {what}")
        if not rec.dry_run:
            with ctx.errors(STEP, f"delete {what}"):
                eventgrid.delete_subscription(client, group.name, topic, ours, timeout_s=timeout)
    if topic != eventgrid.topic_name(group.name):
        rec.unchanged(f"system topic {topic} in {group.label} left: not ours")
    elif others:
        rec.unchanged(f"system topic {topic} in {group.label} left: it holds {', '.join(others)} (not ours)")
    else:
        what = f"system topic {topic} in {group.label}"
        rec.changed(f"deleted {what}", f"delete {what}")
        if not rec.dry_run:
            with ctx.errors(STEP, f"delete {what}"):
                eventgrid.delete_topic(client, group.name, topic, timeout_s=timeout)


def _event_subscriptions(ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo) -> None:
    for group in watched_groups(cluster):
        client = ctx.client(EventGridManagementClient, node_rg=group.node_rg)
        with node_rg_refusals(rec, group, what="removing its event subscriptions", then="left as they are"):
            with ctx.errors(STEP, f"list system topics in {group.label}"):
                topics = [str(t.name) for t in eventgrid.topics_on(client, group.name, group.group_id)]
            for topic in topics:
                _topic(ctx, rec, client, group, topic)


def _scale_sets(ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo) -> None:
    ours = [
        i.resource_id
        for i in cluster.identities
        if not same_id(i.resource_id, cluster.kubelet_identity.resource_id)
    ]
    detach_identities(ctx, rec, cluster, ours, step=STEP)


def _role_assignments(ctx: CustomerContext, rec: StepRecorder, cluster: ClusterInfo) -> None:
    names = cluster.principal_names()
    for scope, node_rg in grant_scopes(cluster):
        where = scope_label(cluster, scope)
        client, found = read_made_at(ctx, rec, scope, node_rg=node_rg)
        ours = [a for a in found if roles.provably_ours(a, set(names))]
        for assignment in found:
            if all(assignment.name != mine.name for mine in ours):
                rec.unchanged(
                    f"role assignment {assignment.name}: {roles.describe_assignment(assignment, names, where)} "
                    "left: not ours"
                )
        delete_assignments(ctx, rec, client, ours, names=names, where=where)


def offboard_customer(ctx: CustomerContext, *, dry_run: bool = True) -> StepResult:
    """Plan (``dry_run``, the default) or remove what onboarding added for the customer (see module doc)."""
    rec = StepRecorder(ctx, STEP, dry_run=dry_run)
    cluster = discover_cluster(ctx)
    ctx = ctx.for_cluster(cluster)
    with customer_cluster(ctx, cluster, step=STEP) as access:
        _cluster_objects(ctx, rec, access)
        _chart(ctx, rec, access)
    _event_subscriptions(ctx, rec, cluster)
    _federated_credential(ctx, rec, cluster)
    _scale_sets(ctx, rec, cluster)
    _role_assignments(ctx, rec, cluster)
    rec.unchanged(
        f"managed application {ctx.spec.managed_application.name} kept: the customer owns it and deletes it"
    )
    return rec.finish(application_id=cluster.application_id, node_resource_group=cluster.node_resource_group)
