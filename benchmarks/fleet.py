"""Scenario 2: fleet scaling with throttling on. N fresh customers onboarded at once with plain functions in a
thread pool, bounded per subscription like the fleet flow (``subscription_concurrency``) but not globally (the
fleet flow's ``fleet_parallelism`` and the work pool's limit bound the Prefect path: see ``prefect_fleet``)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from onboarding.models import CustomerSpec

from .common import Bench, Figure, make_spec, onboard_direct, settings

# Lower than the realistic buckets (250 reads / 25 per s, 200 writes / 10 per s) so that one customer's bursts
# (discovery, LRO polling) meet 429s at this time scale; buckets are per subscription + principal.
THROTTLE = {"reads_burst": 20, "reads_per_s": 4.0, "writes_burst": 10, "writes_per_s": 2.0}
FIRST_INDEX = {1: 3003, 10: 3100, 50: 3200}


def onboard_fleet(specs: list[CustomerSpec]) -> tuple[float, list[str]]:
    """Onboard every spec at once (per-subscription bound); returns (wall seconds, failures)."""
    limit = settings().subscription_concurrency
    gates: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(limit))
    failures: list[str] = []

    def one(spec: CustomerSpec) -> None:
        with gates[spec.subscription_id]:
            try:
                onboard_direct(spec)  # each step under the product's retry policy
            except Exception as exc:  # a failed customer is a figure, not the end of the benchmark
                failures.append(f"{spec.name}: {exc}"[:300])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        list(pool.map(one, specs))
    return time.monotonic() - started, failures


def run(bench: Bench, sizes: list[int]) -> dict[int, list[CustomerSpec]]:
    bench.box.set_timing(**THROTTLE)
    walls: dict[int, float] = {}
    fleets: dict[int, list[CustomerSpec]] = {}
    per_size: dict[str, Any] = {}
    calls = throttled = customers = 0
    try:
        for n in sizes:
            first = FIRST_INDEX.get(n, 3500 + 100 * n)
            specs = [make_spec(bench, first + i) for i in range(n)]
            mark = bench.box.mark()
            walls[n], failures = onboard_fleet(specs)
            counts = bench.box.arm_counts(mark)
            fleets[n] = specs
            calls += counts["read"] + counts["write"]
            throttled += counts["429"]
            customers += n
            per_size[str(n)] = {
                "wall_s": round(walls[n], 2),
                "arm_reads": counts["read"],
                "arm_writes": counts["write"],
                "throttled_429s": counts["429"],
                "failures": failures,
            }
            print(f"# fleet {n}: {walls[n]:.1f} s, {dict(counts)}, {len(failures)} failed", flush=True)
    finally:
        bench.box.reset_timing()
    bench.details["fleet"] = {
        "throttle": THROTTLE,
        "path": "the plain pipeline in a thread pool, each step under the product retry policy (onboarding/retry.py)",
        "sizes": per_size,
    }
    base = walls.get(1)
    for n in sizes:
        if n != 1 and base:
            bench.report(
                Figure(f"fleet_scaling_{n}", walls[n] / base, note=f"{walls[n]:.1f} s / {base:.1f} s")
            )
    bench.report(Figure("arm_calls_per_customer", round(calls / max(customers, 1), 1), "calls"))
    bench.report(Figure("throttled_429s", throttled, "responses", note=f"over {customers} customers"))
    return fleets
