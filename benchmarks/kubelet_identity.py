"""Scenario: AKS "bring your own kubelet identity" as AKS's own answer to the attach step, against today's.

A variant of the current package (``byo_kubelet_template``, published as its own service catalog definition; not
shipped) creates a control plane identity, grants it Managed Identity Operator over the application's identity and
makes that identity the cluster's kubelet identity: AKS then puts it on every node pool scale set itself.

1. A fresh application of the variant, created by onboarding: AKS refuses the cluster
   (``CustomKubeletIdentityMissingPermissionError``) because the template's own grant has not propagated when the
   cluster is created; the deployment fails. Only a wait inside the template (the seed's deployment script sleep)
   would get past it, so the self-contained limit charges one propagation before the cluster.
2. Two applications deployed before onboarding (adopted: their grants long effective), one of today's definition and
   one of the variant, same customer shape (aad-pod-identity managed mode): onboarding wall of each, then the node
   pool path (agent pool created -> the identity on its scale set): the product's attach path run directly (discover,
   the pool's scale set, attach; event delivery and flow start come on top, see the push and startup scenarios)
   against AKS alone.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from onboarding.context import CustomerContext
from onboarding.errors import OnboardingError
from onboarding.models import CustomerSpec
from onboarding.pipeline import STEP_BY_NAME, PlainRunner, StepInput
from onboarding.retry import run_with_retries
from onboarding.steps.attach import RESOLVE_STEP, pool_scale_set
from sandbox import seed
from sandbox.profiles import REALISTIC
from tools.cloud_actions import add_agent_pool, cluster_id, scale_set_identities, wait_for
from tools.kubelet_identity_variant import VARIANT_ID, publish_variant

from .common import Bench, Figure, make_spec, onboard_direct, settings
from .model import byo_kubelet_limit, critical_path_limit_ideal

# shape 0 (index % 3 == 0): service catalog, aad-pod-identity managed mode
FRESH, WARM_UP = 3060, 3063
ORDER, RUNS = ("today", "byo", "byo", "today"), (3066, 3069, 3072, 3075)
POOL = "kip"


def pool_ready_s(bench: Bench, spec: CustomerSpec, *, attach: bool) -> float:
    """Agent pool created (its PUT completed) -> the application identity on the pool's scale set."""
    identity = f"/{spec.managed_application.parameters.aks_name.lower()}-identity"
    created = add_agent_pool(bench.box, spec, POOL)
    if attach:
        ctx = CustomerContext(spec, settings())
        runner = PlainRunner(ctx)
        cluster, _ = runner.run(STEP_BY_NAME["discover-cluster"], StepInput())
        vmss_id = run_with_retries(
            lambda: pool_scale_set(ctx, cluster, f"{cluster_id(spec)}/agentPools/{POOL}"),
            step=RESOLVE_STEP,
            customer=spec.name,
            policy=runner.policy,
            attempts=runner.attempts,
        )
        runner.run(STEP_BY_NAME["attach-identities"], StepInput(cluster=cluster, scale_set=vmss_id))
    wait_for(
        lambda: any(
            name.startswith(f"aks-{POOL}-") and any(i.endswith(identity) for i in ids)
            for name, ids in scale_set_identities(bench.box, spec).items()
        ),
        timeout_s=300.0,
        interval_s=0.05,
        what=f"{identity} on the {POOL} pool's scale set",
    )
    return time.time() - created


def fresh_deployment(bench: Bench) -> str:
    """Onboarding creates an application of the variant: the error it ends with (AKS's, through the deployment)."""
    spec = make_spec(bench, FRESH, {"definition_id": VARIANT_ID})
    try:
        onboard_direct(spec)
    except OnboardingError as exc:
        return str(exc)[:600]
    return "deployed"


def measure(bench: Bench, index: int, definition: str, *, attach: bool) -> dict[str, Any]:
    """One adopted customer of ``definition``: its onboarding, then a node pool added and made ready."""
    spec = make_spec(bench, index, {"definition_id": definition, "adopt_only": True})
    wall, steps = onboard_direct(spec)
    return {
        "customer": spec.name,
        "wall_s": round(wall, 2),
        "attach_changed": [c for s in steps if s.step == "attach_identities" for c in s.changed],
        "steps_s": {s.step: round(s.duration_s, 2) for s in steps},
        "pool_ready_s": round(pool_ready_s(bench, spec, attach=attach), 2),
    }


def run(bench: Bench) -> None:
    publish_variant(bench.box)
    refused = fresh_deployment(bench)
    # Not counted: the first onboarding in a process pays the first helm install and empty token caches.
    measure(bench, WARM_UP, seed.APPLICATION_DEFINITION_ID, attach=True)
    runs: dict[str, list[dict[str, Any]]] = {"today": [], "byo": []}
    for mode, index in zip(ORDER, RUNS, strict=True):  # ABBA: neither mode always runs first
        definition = VARIANT_ID if mode == "byo" else seed.APPLICATION_DEFINITION_ID
        runs[mode].append(measure(bench, index, definition, attach=mode == "today"))
    measured = {
        mode: {key: round(statistics.mean(r[key] for r in found), 2) for key in ("wall_s", "pool_ready_s")}
        | {"runs": found}
        for mode, found in runs.items()
    }
    timing, real = bench.timing, dict(REALISTIC.as_dict())
    bench.details["kubelet_identity"] = {
        "fresh_byo_deployment": refused,
        **measured,
        "limit_ideal_s": round(critical_path_limit_ideal(timing, created=True), 2),
        "limit_byo_s": round(byo_kubelet_limit(timing, created=True), 2),
    }
    for mode, suffix in (("today", ""), ("byo", "_byo")):
        bench.report(Figure(f"kubelet_identity_onboarding_wall{suffix}_s", measured[mode]["wall_s"], "s"))
        bench.report(Figure(f"kubelet_identity_pool_ready{suffix}_s", measured[mode]["pool_ready_s"], "s"))
    bench.report(
        Figure(
            "kubelet_identity_limit_byo_vs_ideal",
            byo_kubelet_limit(timing, created=True) / critical_path_limit_ideal(timing, created=True),
            note="a fresh application: self-contained BYO template (grant propagated before the cluster) / ideal",
        )
    )
    bench.report(
        Figure(
            "kubelet_identity_limit_byo_real",
            round(byo_kubelet_limit(real, created=True) / 60, 1),
            "min",
            note=f"ideal today {critical_path_limit_ideal(real, created=True) / 60:.1f} min (realistic, unscaled)",
        )
    )
