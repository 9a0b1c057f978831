"""Scenario 3: re-running onboarded customers (idempotent reconcile): ARM reads and writes, seconds per customer."""

from __future__ import annotations

from onboarding.models import CustomerSpec

from .common import Bench, Figure, onboard_direct


def run(bench: Bench, specs: list[CustomerSpec]) -> None:
    mark = bench.box.mark()
    seconds = [
        onboard_direct(spec).seconds for spec in specs
    ]  # one at a time: seconds per customer are its own
    counts = bench.box.arm_counts(mark)
    n = len(specs)
    bench.details["rerun"] = {
        "customers": [s.name for s in specs],
        "seconds": [round(s, 2) for s in seconds],
        "arm_reads": counts["read"],
        "arm_writes": counts["write"],
    }
    bench.report(Figure("rerun_arm_reads_per_customer", round(counts["read"] / n, 1), "calls"))
    bench.report(Figure("rerun_arm_writes_per_customer", round(counts["write"] / n, 1), "calls"))
    bench.report(Figure("rerun_seconds_per_customer", round(sum(seconds) / n, 2), "s"))
