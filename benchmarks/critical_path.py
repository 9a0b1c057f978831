"""Scenario 1: one customer's onboarding wall time against the physical limit, and the seed's procedure against it."""

from __future__ import annotations

from .common import Bench, Figure, make_spec, onboard_direct
from .model import critical_path_limit, seed_procedure_seconds

INDEX = 3000  # shape 0: service catalog application created by onboarding, aad-pod-identity managed mode


def run(bench: Bench) -> None:
    spec = make_spec(bench, INDEX)
    timing = bench.timing
    mark = bench.box.mark()
    wall, steps = onboard_direct(spec)
    counts = bench.box.arm_counts(mark)
    limit = critical_path_limit(timing, created=True, grant_reader=spec.storage.grant_reader)
    seed = seed_procedure_seconds(timing, time_scale=bench.time_scale, scale_sets=1)
    bench.details["critical_path"] = {
        "customer": spec.name,
        "wall_s": round(wall, 2),
        "limit_s": round(limit, 2),
        "seed_model_s": round(seed, 2),
        "arm_reads": counts["read"],
        "arm_writes": counts["write"],
        "waited_s": {step.step: round(step.waited_s, 2) for step in steps},
    }
    bench.report(Figure("critical_path_efficiency", wall / limit, note=f"{wall:.1f} s / limit {limit:.2f} s"))
    bench.report(Figure("seed_procedure_efficiency", seed / limit, note=f"seed model {seed:.1f} s"))
    bench.report(Figure("onboarding_wall", round(wall, 2), "s"))
    bench.report(Figure("critical_path_limit", round(limit, 2), "s"))
    # Role propagation as the flow waits it out: the template's assignments (discovery polls until the node
    # resource group reads pass) and Storage Blob Data Reader (granted early, so the storage check waits only
    # for what is left after the scale sets and pod identity), each against the configured delay.
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
