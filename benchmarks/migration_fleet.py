"""The migrate-fleet deployment through Prefect for N aad-pod-identity customers (managed and standard mode in
turn), onboarded first without Prefect: canary, then waves of ONBOARDING_MIGRATION_WAVE_SIZE, each customer a task
run under its subscription's limit. The wall is the run's, from its creation to its end."""

from __future__ import annotations

from tools.stack import PrefectStack

from .common import Bench, Figure, make_spec
from .fleet import onboard_fleet
from .prefect_runs import run_and_wait

FIRST_INDEX = 3600  # shapes 0 and 1 of the generated catalog only (2 is workload identity already)


def run(bench: Bench, stack: PrefectStack, n: int) -> None:
    specs = [make_spec(bench, i) for i in range(FIRST_INDEX, FIRST_INDEX + 2 * n) if i % 3 != 2][:n]
    onboarded_s, failures = onboard_fleet(specs)
    if failures:
        raise RuntimeError(f"onboarding before the migration failed: {failures}")
    mark = bench.box.mark()
    _, wall = run_and_wait(
        stack, "migrate-fleet/manual", {"customers": [s.name for s in specs], "dry_run": False}
    )
    counts = bench.box.arm_counts(mark)
    bench.details[f"migration_fleet_{n}"] = {
        "wall_s": round(wall, 2),
        "onboarding_before_s": round(onboarded_s, 2),
        "arm_reads": counts["read"],
        "arm_writes": counts["write"],
        "throttled_429s": counts["429"],
        "waves": "canary of 1 (the first customer), then ONBOARDING_MIGRATION_WAVE_SIZE (default 5)",
    }
    bench.report(Figure(f"migration_fleet_{n}_wall", round(wall, 1), "s"))
