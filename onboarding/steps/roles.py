"""Step 3: the roles pod identity needs, on the node resource group (and the managed resource group).

Desired, per the seed: the application's identity holds ``spec.node_role`` on the node resource group; in
aad-pod-identity standard mode the kubelet identity holds Managed Identity Operator and Virtual Machine
Contributor there, and Managed Identity Operator on the managed resource group (where the pod identities live).
Node resource group assignments are written with the node-RG credential (only it holds roles there); managed
resource group ones as the publisher (Owner there through the application's authorizations).

Effectiveness: ARM offers no read that proves another principal's assignment has propagated, and the sandbox
serves no ``permissions`` API; the next write (attach) proves it, raising AuthorizationPendingError until then.
"""

from __future__ import annotations

from ..azure import roles
from ..azure.identities import same_id
from ..azure.roles import DesiredAssignment
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..models import NodeRole, PodIdentityMode
from ..results import StepResult
from . import StepRecorder
from .assignments import ensure_assignments

STEP = "ensure_node_rg_roles"


def scope_label(cluster: ClusterInfo, scope: str) -> str:
    """'node resource group X', 'managed resource group Y', 'storage account Z', else the scope itself."""
    if same_id(scope, cluster.node_resource_group_id):
        return f"node resource group {cluster.node_resource_group}"
    if same_id(scope, cluster.managed_resource_group_id):
        return f"managed resource group {scope.rstrip('/').rsplit('/', 1)[-1]}"
    if cluster.storage_account_id and same_id(scope, cluster.storage_account_id):
        return f"storage account {cluster.storage_account_name}"
    return scope


def desired_assignments(ctx: CustomerContext, cluster: ClusterInfo) -> list[DesiredAssignment]:
    node_rg, mrg = cluster.node_resource_group_id, cluster.managed_resource_group_id
    node_label = scope_label(cluster, node_rg)
    wanted = [
        DesiredAssignment(
            node_rg, roles.NODE_ROLE_GUIDS[ctx.spec.node_role], cluster.app_identity, node_label
        )
    ]
    if ctx.spec.pod_identity.mode is PodIdentityMode.AAD_POD_IDENTITY_STANDARD:
        kubelet = cluster.kubelet_identity
        wanted += [
            DesiredAssignment(node_rg, roles.MANAGED_IDENTITY_OPERATOR, kubelet, node_label),
            DesiredAssignment(node_rg, roles.VIRTUAL_MACHINE_CONTRIBUTOR, kubelet, node_label),
            DesiredAssignment(mrg, roles.MANAGED_IDENTITY_OPERATOR, kubelet, scope_label(cluster, mrg)),
        ]
    return wanted


def expected_assignments(ctx: CustomerContext, cluster: ClusterInfo) -> list[DesiredAssignment]:
    """What onboarding relies on at the two resource groups: the template's (templates/mainTemplate.json: the
    application's identity Owner on the managed resource group, its node role, the kubelet's roles in standard
    mode) and ``desired_assignments``."""
    mrg = cluster.managed_resource_group_id
    template = DesiredAssignment(mrg, roles.OWNER, cluster.app_identity, scope_label(cluster, mrg))
    return [template, *desired_assignments(ctx, cluster)]


def _cannot_write(ctx: CustomerContext) -> str | None:
    """Only Owner (of the node roles) may assign roles; the application's identity cannot grant itself more."""
    if ctx.node_rg_is_app_identity and ctx.spec.node_role is not NodeRole.OWNER:
        return (
            f"the application's identity holds {ctx.spec.node_role.value} on the node resource group, "
            "which cannot assign roles"
        )
    return None


def ensure_node_rg_roles(ctx: CustomerContext, cluster: ClusterInfo, *, dry_run: bool = False) -> StepResult:
    ctx = ctx.for_cluster(cluster)
    rec = StepRecorder(ctx, STEP, dry_run=dry_run)
    wanted = desired_assignments(ctx, cluster)
    on_node_rg = [w for w in wanted if same_id(w.scope, cluster.node_resource_group_id)]
    elsewhere = [w for w in wanted if w not in on_node_rg]
    created = ensure_assignments(
        ctx, rec, on_node_rg, step=STEP, node_rg=True, cannot_write=_cannot_write(ctx)
    )
    if elsewhere:
        created += ensure_assignments(ctx, rec, elsewhere, step=STEP, node_rg=False)
    return rec.finish(
        assignments=[
            {
                "name": w.name,
                "scope": w.scope,
                "role": roles.role_label(w.role_guid),
                "principal_id": w.principal.principal_id,
            }
            for w in wanted
        ],
        created=[w.name for w in created],
        effective=_effectiveness(dry_run),
    )


def _effectiveness(dry_run: bool) -> str:
    """What proves the assignments took effect (see the module doc); a dry run writes nothing, so proves nothing."""
    if dry_run:
        return (
            "not proven in a dry run: nothing is written; in the real run the first write as the node resource "
            "group credential (attach_identities) proves it"
        )
    return (
        "proven by the next write as the node resource group credential (attach_identities, when a scale set "
        "lacks an identity)"
    )
