"""Scenario 1: one customer's onboarding wall time against the physical limit, and the seed's procedure against it.

The customer's service catalog application runs the current package (templates/, 1.2.0: Storage Blob Data Reader
granted by the template), so it is measured against both today's limit and the ideal one. The two figures are also
given in Azure's real timings (the realistic profile unscaled), the onboarding there estimated from the measured
ratio."""

from __future__ import annotations

from dataclasses import asdict

from sandbox.profiles import REALISTIC

from .common import Bench, Figure, make_spec, onboard_direct
from .model import critical_path_limit, critical_path_limit_ideal, seed_procedure_seconds

INDEX = 3000  # shape 0: service catalog application created by onboarding, aad-pod-identity managed mode


def run(bench: Bench) -> None:
    spec = make_spec(bench, INDEX)
    timing = bench.timing
    mark = bench.box.mark()
    wall, steps = onboard_direct(spec)
    counts = bench.box.arm_counts(mark)
    limit = critical_path_limit(timing, created=True, grant_reader=spec.storage.grant_reader)
    ideal = critical_path_limit_ideal(timing, created=True)
    real = asdict(REALISTIC)
    real_limit = critical_path_limit(real, created=True, grant_reader=spec.storage.grant_reader)
    real_ideal = critical_path_limit_ideal(real, created=True)
    seed = seed_procedure_seconds(timing, time_scale=bench.time_scale, scale_sets=1)
    storage = next((s for s in steps if s.step == "ensure_storage_reader"), None)
    bench.details["critical_path"] = {
        "customer": spec.name,
        "template_version": storage.details.get("template_version") if storage else None,
        "wall_s": round(wall, 2),
        "limit_s": round(limit, 2),
        "limit_ideal_s": round(ideal, 2),
        "seed_model_s": round(seed, 2),
        "arm_reads": counts["read"],
        "arm_writes": counts["write"],
        "waited_s": {step.step: round(step.waited_s, 2) for step in steps},
        "step_s": {step.step: round(step.duration_s, 2) for step in steps},
    }
    bench.report(Figure("critical_path_efficiency", wall / limit, note=f"{wall:.1f} s / limit {limit:.2f} s"))
    bench.report(Figure("seed_procedure_efficiency", seed / limit, note=f"seed model {seed:.1f} s"))
    bench.report(Figure("onboarding_wall", round(wall, 2), "s"))
    bench.report(Figure("critical_path_limit", round(limit, 2), "s"))
    bench.report(Figure("critical_path_limit_ideal", round(ideal, 2), "s"))
    bench.report(Figure("onboarding_vs_ideal", wall / ideal, note=f"{wall:.1f} s / ideal {ideal:.2f} s"))
    bench.report(
        Figure(
            "critical_path_limit_real", round(real_limit / 60, 1), "min", note="realistic profile unscaled"
        )
    )
    bench.report(
        Figure(
            "critical_path_limit_ideal_real",
            round(real_ideal / 60, 1),
            "min",
            note="realistic profile unscaled",
        )
    )
    bench.report(
        Figure(
            "onboarding_real_estimate",
            round(wall / ideal * real_ideal / 60, 1),
            "min",
            note="onboarding_vs_ideal x the ideal limit in Azure's timings",
        )
    )
    # Role propagation as the flow waits it out: the template's assignments (discovery polls until the node
    # resource group reads pass) and Storage Blob Data Reader (granted by the template, or early by onboarding on
    # older versions, so the storage check waits only for what is left), each against the configured delay.
    propagation = float(timing["role_propagation_s"])
    for name, step in (("template_roles", "discover_cluster"), ("storage_role", "verify_storage_access")):
        waited = next(s.waited_s for s in steps if s.step == step)
        bench.report(
            Figure(
                f"{name}_propagation_wait",
                waited / propagation,
                note=f"{step} waited {waited:.2f} s / configured {propagation:g} s",
            )
        )
