"""Scenario: how long onboarding waits for role propagation, against the profile's configured delay.

A standard-mode customer with Owner on the node resource group: the roles step writes that assignment and polls
until it takes effect; Storage Blob Data Reader, granted right after discovery, propagates while the scale sets and
pod identity are done, and the storage check waits for what is left of it.
"""

from __future__ import annotations

from .common import Bench, Figure, make_spec, onboard_direct

INDEX = (
    3001  # shape 1: service catalog application created by onboarding, standard mode, Owner on the node RG
)


def run(bench: Bench) -> None:
    spec = make_spec(bench, INDEX)
    propagation = float(bench.timing["role_propagation_s"])
    mark = bench.box.mark()
    wall, steps = onboard_direct(spec)
    counts = bench.box.arm_counts(mark)
    waited = {step.step: round(step.waited_s, 2) for step in steps}
    roles = waited["ensure_node_rg_roles"]
    storage = waited["verify_storage_access"]
    bench.details["propagation"] = {
        "customer": spec.name,
        "wall_s": round(wall, 2),
        "configured_propagation_s": propagation,
        "waited_s": waited,
        "arm_reads": counts["read"],
        "arm_writes": counts["write"],
    }
    bench.report(
        Figure(
            "roles_propagation_wait",
            roles / propagation,
            note=f"{roles:.2f} s / configured {propagation:g} s",
        )
    )
    bench.report(
        Figure(
            "storage_role_remaining_wait",
            storage / propagation,
            note=f"{storage:.2f} s / configured {propagation:g} s (the rest overlapped other steps)",
        )
    )
