"""Scenario: one customer migrated from aad-pod-identity to workload identity (managed mode, its cluster deployed
without workload identity, so the migration's cluster update LRO is in the figure): wall seconds of the real run,
its ARM reads and writes, and the seconds of its dry run."""

from __future__ import annotations

import time

from onboarding.context import CustomerContext
from onboarding.operations.migrate import migrate_to_workload_identity

from .common import Bench, Figure, make_spec, onboard_direct, settings

INDEX = 900  # customer_document shape 0 (index % 3): service catalog + aad-pod-identity managed; outside the fleets


def run(bench: Bench) -> None:
    spec = make_spec(bench, INDEX)
    onboard_direct(spec)
    ctx = CustomerContext(spec, settings())
    started = time.monotonic()
    plan = migrate_to_workload_identity(ctx)
    plan_s = time.monotonic() - started
    mark = bench.box.mark()
    started = time.monotonic()
    result = migrate_to_workload_identity(ctx, dry_run=False)
    seconds = time.monotonic() - started
    counts = bench.box.arm_counts(mark)
    assert result.details["state"] == "migrated", result.details
    bench.details["migration"] = {
        "customer": spec.name,
        "seconds": round(seconds, 2),
        "waited_s": round(result.waited_s, 2),
        "plan_seconds": round(plan_s, 2),
        "planned_changes": len(plan.changed),
        "changes": result.changed,
        "arm_reads": counts["read"],
        "arm_writes": counts["write"],
    }
    note = f"realistic profile x{bench.time_scale}: cluster update LRO, federation, two probe pods, removal"
    bench.report(Figure("migration_seconds_per_customer", round(seconds, 2), "s", note=note))
    bench.report(Figure("migration_arm_writes_per_customer", counts["write"], "calls"))
