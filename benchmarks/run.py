"""`make bench`: every scenario on one sandbox (realistic profile, time-scaled), the contract's lines on stdout and
``benchmarks/results.json`` (figures of this phase next to the other phase's, e.g. before/after a change).

    python -m benchmarks.run [--time-scale 0.02] [--fleet 1,10,50] [--events 10] [--phase after] [--only critical_path,rerun]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sandbox.client import SandboxProcess
from tools.stack import PrefectStack

from . import (
    critical_path,
    events,
    fleet,
    kubelet_identity,
    migration,
    migration_fleet,
    orchestration,
    prefect_fleet,
    push,
    rerun,
    startup,
)
from .common import ROOT, Bench, Figure
from .prefect_runs import pause_schedule

RESULTS = ROOT / "benchmarks" / "results.json"
POOL_LIMIT = 8
STACK_TIMEOUT_S = (
    300.0  # a fresh SQLite server takes ~14 s on an idle 2-core machine, minutes on a loaded one
)
T = TypeVar("T")
SCENARIOS = (
    "critical_path",
    "kubelet_identity",
    "orchestration",
    "events",
    "startup",
    "push",
    "prefect_fleet",
    "migration_fleet",
    "fleet",
    "rerun",
    "migration",
)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def attempt(bench: Bench, name: str, scenario: Callable[[], T]) -> T | None:
    """Run one scenario; a failure is recorded (and printed) and the next scenarios still run."""
    try:
        return scenario()
    except Exception as exc:
        bench.details.setdefault("failed", {})[name] = f"{type(exc).__name__}: {exc}"[:500]
        print(f"# {name} failed: {type(exc).__name__}: {exc}", flush=True)
        return None


def prefect_scenarios(bench: Bench, state: Path, args: argparse.Namespace) -> None:
    stack = PrefectStack(
        state / "prefect",
        extra_env={**bench.box.env, "ONBOARDING_CATALOG_DIR": str(bench.catalog_dir)},
    )
    try:
        stack.start(timeout_s=STACK_TIMEOUT_S)
        stack.deploy(concurrency=POOL_LIMIT)
        pause_schedule(stack, events.WATCH)
        stack.start_worker()
        if "orchestration" in args.only:
            customer = attempt(bench, "orchestration", lambda: orchestration.run(bench, stack))
        else:
            customer = attempt(bench, "onboard", lambda: orchestration.onboard_deployed(bench, stack))
        if customer and "events" in args.only:
            attempt(bench, "events", lambda: events.run(bench, stack, customer, args.events))
        if customer and "startup" in args.only:
            attempt(bench, "startup", lambda: startup.run(bench, stack, customer))
        if customer and "push" in args.only:
            attempt(bench, "push", lambda: push.run(bench, stack, customer, args.events, state / "receiver"))
        if args.prefect_fleet and "prefect_fleet" in args.only:
            attempt(
                bench,
                "prefect_fleet",
                lambda: prefect_fleet.run(bench, stack, args.prefect_fleet, POOL_LIMIT),
            )
        if args.prefect_fleet and "migration_fleet" in args.only:
            attempt(bench, "migration_fleet", lambda: migration_fleet.run(bench, stack, args.prefect_fleet))
    finally:
        stack.stop()


def measure(bench: Bench, state: Path, args: argparse.Namespace) -> None:
    if "critical_path" in args.only:
        attempt(bench, "critical_path", lambda: critical_path.run(bench))
    if "kubelet_identity" in args.only:
        attempt(bench, "kubelet_identity", lambda: kubelet_identity.run(bench))
    if {"orchestration", "events", "startup", "push", "prefect_fleet", "migration_fleet"} & set(args.only):
        attempt(bench, "prefect", lambda: prefect_scenarios(bench, state, args))
    fleets = attempt(bench, "fleet", lambda: fleet.run(bench, args.fleet)) if "fleet" in args.only else None
    if fleets and "rerun" in args.only:
        attempt(bench, "rerun", lambda: rerun.run(bench, fleets[max(n for n in args.fleet if n <= 10)]))
    if "migration" in args.only:
        attempt(bench, "migration", lambda: migration.run(bench))
    direct = bench.details.get("fleet", {}).get("sizes", {}).get(str(args.prefect_fleet))
    through_prefect = bench.details.get(f"prefect_fleet_{args.prefect_fleet}")
    if direct and through_prefect:
        ratio = through_prefect["wall_s"] / direct["wall_s"]
        bench.report(
            Figure(f"prefect_fleet_{args.prefect_fleet}_vs_direct", ratio, note="wall: Prefect / direct")
        )


def write_results(bench: Bench, args: argparse.Namespace, seconds: float, load: dict[str, str]) -> None:
    previous: dict[str, Any] = json.loads(args.results.read_text()) if args.results.exists() else {}
    phases = previous.get("phases", {}) if previous.get("time_scale") == args.time_scale else {}
    # a partial run (--only) updates the figures it measured and keeps the phase's others
    phase = phases.setdefault(args.phase, {})
    phase.setdefault("figures", {}).update({f.name: f.as_dict() for f in bench.figures})
    phase.setdefault("details", {}).update(bench.details)
    phase.setdefault("runs", []).append(
        {"only": args.only, "bench_seconds": round(seconds, 1), "load_average": load}
    )
    args.results.write_text(
        json.dumps(
            {
                "profile": "realistic",
                "time_scale": args.time_scale,
                "timing": bench.details.get("timing"),
                "machine": {"cpus": os.cpu_count()},
                "phases": phases,
            },
            indent=2,
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--time-scale", type=float, default=0.02, help="multiplier for Azure's real delays")
    parser.add_argument("--fleet", default="1,10,50", help="fleet sizes (1 is the baseline)")
    parser.add_argument(
        "--prefect-fleet", type=int, default=10, help="fleet size also run through Prefect (0: no)"
    )
    parser.add_argument("--events", type=int, default=10, help="node pool additions")
    parser.add_argument("--phase", default="current", help="name of this run in results.json (before, after)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help="comma-separated scenarios (default: all)"
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="results file (phases are merged into it)"
    )
    args = parser.parse_args(argv)
    args.fleet = sorted({1, *(int(n) for n in args.fleet.split(","))})
    args.only = [name for name in args.only.split(",") if name]
    # SIGTERM (timeout, Ctrl-C in make) runs the finally blocks that stop the sandbox and the Prefect stack
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    load = {"start": load_average()}
    state = ROOT / ".state" / "bench"
    shutil.rmtree(state, ignore_errors=True)
    box = SandboxProcess(state / "sandbox", profile="realistic", time_scale=args.time_scale).start()
    box.apply_env()
    bench = Bench(box=box, time_scale=args.time_scale, catalog_dir=state / "catalog")
    os.environ["ONBOARDING_CATALOG_DIR"] = str(bench.catalog_dir)  # flows called in this process read it too
    bench.details["timing"] = bench.timing
    print(f"# sandbox: realistic profile, time scale {args.time_scale}, load {load['start']}", flush=True)
    try:
        measure(bench, state, args)
    finally:
        box.stop()
    seconds = time.monotonic() - started
    load["end"] = load_average()
    bench.report(Figure("bench_wall", round(seconds, 1), "s"))
    write_results(bench, args, seconds, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
