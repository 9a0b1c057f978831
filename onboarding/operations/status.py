"""One customer's status, read-only: the managed application's provisioning state, the identities on each node
pool scale set, the pod identity objects in the cluster (AzureIdentity/Binding, or the federated credential and
service account), and when storage access was last verified: that lookup is the caller's (``LastVerified``; the
Prefect one is ``tasks/onboarded_event.py``), so the domain speaks to no orchestrator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient

from ..azure import federated_credentials, managed_app, vmss
from ..azure.identities import short_name
from ..context import CustomerContext
from ..errors import OnboardingError
from ..kube import workload_identity as wi
from ..kube.cleanup import find_owned
from ..kube.kubeconfig import customer_cluster
from ..steps.discover import discover_cluster

STEP = "status"

LastVerified = Callable[[str], str]
"""Customer name -> when its storage access was last verified, or why that is unknown (never raises)."""


@dataclass
class CustomerStatus:
    customer: str
    application: str
    scale_sets: dict[str, list[str]] = field(default_factory=dict)
    pod_identity: list[str] = field(default_factory=list)
    last_verified: str = "unknown"
    error: str | None = None


def customer_status(ctx: CustomerContext, last_verified: LastVerified) -> CustomerStatus:
    """Read everything the status shows; an error is reported in the status, not raised."""
    spec = ctx.spec
    status = CustomerStatus(customer=spec.name, application="not deployed")
    status.last_verified = last_verified(spec.name)
    try:
        with ctx.errors(STEP, f"read managed application {spec.managed_application.name}"):
            app = managed_app.get_application(ctx.resources, ctx.application_id)
        if app is None:
            return status
        status.application = managed_app.state_of(app) or "unknown"
        if status.application.lower() != "succeeded":
            return status
        cluster = discover_cluster(ctx)
        ctx = ctx.for_cluster(cluster)
        compute = ctx.client(ComputeManagementClient, node_rg=True)
        with ctx.errors(STEP, f"list scale sets in {cluster.node_resource_group}"):
            for scale_set in vmss.list_scale_sets(compute, cluster.node_resource_group):
                status.scale_sets[str(scale_set.name)] = [short_name(i) for i in vmss.attached_ids(scale_set)]
        with customer_cluster(ctx, cluster, step=STEP) as access:
            status.pod_identity = [str(o) for o in find_owned(access.api, customer=spec.name, step=STEP)]
        name = wi.credential_name(
            customer=spec.name,
            namespace=spec.pod_identity.namespace,
            service_account=spec.pod_identity.service_account,
        )
        msi = ctx.client(ManagedServiceIdentityClient)
        if federated_credentials.read_federated_credential(
            msi, cluster.app_identity, name=name, customer=spec.name, step=STEP
        ):
            status.pod_identity.append(f"federated identity credential {name} on {cluster.app_identity.name}")
    except OnboardingError as exc:
        status.error = str(exc)
    return status
