"""Scenario 2 through Prefect, for one size: the reconcile-fleet deployment with N fresh customers as child
deployment runs (per-subscription global concurrency limits, ``fleet_parallelism`` threads, the work pool's limit)."""

from __future__ import annotations

from tools.stack import PrefectStack

from .common import Bench, Figure, make_spec
from .fleet import THROTTLE
from .prefect_runs import run_and_wait

FIRST_INDEX = 3300


def run(bench: Bench, stack: PrefectStack, n: int, pool_limit: int) -> None:
    specs = [make_spec(bench, FIRST_INDEX + i) for i in range(n)]
    bench.box.set_timing(**THROTTLE)
    mark = bench.box.mark()
    try:
        _, wall = run_and_wait(
            stack,
            "reconcile-fleet/nightly",
            {"customers": [s.name for s in specs]},  # the worker's catalog is bench.catalog_dir
        )
    finally:
        bench.box.reset_timing()
    counts = bench.box.arm_counts(mark)
    bench.details[f"prefect_fleet_{n}"] = {
        "wall_s": round(wall, 2),
        "work_pool_limit": pool_limit,
        "arm_reads": counts["read"],
        "arm_writes": counts["write"],
        "throttled_429s": counts["429"],
    }
    bench.report(Figure(f"prefect_fleet_{n}_wall", round(wall, 1), "s"))
