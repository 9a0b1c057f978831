"""The physical limit of one onboarding, and a model of the seed's procedure, from the sandbox's configured timing.

Critical path of a customer whose managed application is created by onboarding (service catalog), with the waits
the sandbox imposes (``GET /state`` -> ``timing``, already multiplied by the time scale):

1. ``app_deploy_s``: the application's deployment; nothing about the cluster exists before it ends.
2. ``role_propagation_s``: the deployment's role assignments (the publisher's Owner on the managed resource group,
   the application identity's role on the node resource group) become effective together; discovery reads the
   cluster as the publisher and attach writes the scale sets as the identity, so both wait for it.
   ``principal_not_found_s`` (identity replication) runs during the same window and is shorter, so it is hidden.
3. Then, in parallel: the scale set updates (``vmss_update_s`` once: one PATCH per scale set at the same time) and,
   when the spec grants Storage Blob Data Reader, that assignment's own ``role_propagation_s``: the publisher can
   write it only once its Owner on the managed resource group is effective (step 2), and the probe needs it.
4. ``pod_start_s``: the probe pod starts; it needs both branches of step 3 (the chart's pods start meanwhile).

The ideal limit (``critical_path_limit_ideal``) is that path with every grant made at deployment time, as the
package's template does since 1.2.0: the deployment, one propagation, the scale set update and the pod start.
Today's limit is kept for continuity: it still charges the Storage Blob Data Reader's own propagation.

An adopted (Marketplace) application is deployed and its assignments replicated before onboarding starts, so its
limit is steps 3 and 4 only. Helm, Kubernetes object writes and ARM round trips are work, not configured waits: they
count against the product.

The seed's procedure (its README and template) done by a person with no think time: the deployment, the template's
fixed ``sleep 2110`` (role propagation happens during it), ``az vmss identity assign`` once per scale set in turn,
the Storage Blob Data Reader assignment made by hand afterwards and its propagation, then the chart's pods and the
test pod started one after the other.
"""

from __future__ import annotations

from typing import Any

SEED_SLEEP_S = 2110.0


def critical_path_limit(timing: dict[str, Any], *, created: bool, grant_reader: bool) -> float:
    deploy = float(timing["app_deploy_s"]) + float(timing["role_propagation_s"]) if created else 0.0
    storage_role = float(timing["role_propagation_s"]) if grant_reader else 0.0
    return deploy + max(float(timing["vmss_update_s"]), storage_role) + float(timing["pod_start_s"])


def critical_path_limit_ideal(timing: dict[str, Any], *, created: bool) -> float:
    """Every grant made by the template: nothing propagates after the deployment's own assignments."""
    return critical_path_limit(timing, created=created, grant_reader=False)


def byo_kubelet_limit(timing: dict[str, Any], *, created: bool) -> float:
    """The ideal limit with the application identity as the cluster's kubelet identity (AKS puts it on every scale
    set: no scale set update), the template self-contained: AKS checks the control plane identity's Managed Identity
    Operator grant when the cluster is created, so that grant's propagation comes before the deployment's cluster."""
    deploy = float(timing["app_deploy_s"]) + 2 * float(timing["role_propagation_s"]) if created else 0.0
    return deploy + float(timing["pod_start_s"])


def seed_procedure_seconds(timing: dict[str, Any], *, time_scale: float, scale_sets: int) -> float:
    sleep = max(SEED_SLEEP_S * time_scale, float(timing["role_propagation_s"]))
    return (
        float(timing["app_deploy_s"])
        + sleep
        + scale_sets * float(timing["vmss_update_s"])
        + float(timing["role_propagation_s"])
        + 2 * float(timing["pod_start_s"])
    )
