"""`make scale-demo`: the fleet reconcile of a generated catalog on Prefect at scale: PostgreSQL + Redis, the
Prefect API and its services as separate processes, several process workers on one work pool, and the sandbox.
Prints how many customers were onboarded, how many flow runs each worker took, the wall time, and the latency
from an event to the flow run it triggers; stops everything it started.

    python -m tools.scale_demo [--customers 50] [--workers 2] [--runs-per-worker 4] [--time-scale 0.01] [--profile fast]

The sandbox runs its realistic profile scaled by --time-scale (Azure's waits: application deployment, role
propagation, scale set updates, pod start; ARM throttling buckets), so the fleet's time is mostly waiting on the
cloud, as in Azure, and more worker slots shorten it; the fast profile would only measure this machine's CPU.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sandbox.client import SandboxProcess

from .customers import register_customer
from .fleet_catalog import write_fleet_catalog
from .fleet_run import FleetOutcome, pause_schedules, run_fleet, trigger_latency
from .scale_stack import ScaleStack
from .stack import ROOT

WATCHER = "watch-node-pools/safety-net"  # paused: the fleet run alone writes, so the figures are the fleet's
EVENT_DEPLOYMENT = "attach-node-pool/on-event"


def first_scale_set(box: SandboxProcess, customer: str) -> str | None:
    """A scale set the fleet run attached identities to, read from the sandbox's ARM request log."""
    for entry in box.requests_log():
        path = str(entry["path"]).split("?", 1)[0]
        if (
            entry["method"] == "PATCH"
            and f"/{customer}-ama-aks-rg/" in path.lower()
            and "/virtualmachinescalesets/" in path.lower()
        ):
            return path
    return None


def event_latency(api_url: str, customer: str, vmss: str, samples: int) -> str:
    """Emit drift events, one at a time, for a scale set the fleet run completed (each triggered run is a no-op
    reconcile) and report the seconds from each event to the flow run it triggered."""
    resource = {
        "prefect.resource.id": f"aks.nodepool.{customer}.{vmss.rsplit('/', 1)[-1]}",
        "customer.id": customer,
        "azure.vmss.id": vmss,
    }
    seconds = []
    try:
        for _ in range(samples):
            seconds.append(trigger_latency(api_url, EVENT_DEPLOYMENT, "aks.nodepool.drifted", resource))
    except TimeoutError as exc:
        return f"event -> triggered flow run: {exc} (after {len(seconds)} triggered)"
    return f"event -> triggered flow run created: {', '.join(f'{s:.2f}' for s in seconds)} s"


def report(outcome: FleetOutcome, customers: int, workers: int) -> None:
    print(f"\ncustomers onboarded: {len(outcome.completed())}/{customers}")
    print(f"fleet run: {outcome.fleet.state.type.value if outcome.fleet.state else '?'}")
    for worker, count in sorted(outcome.runs_per_worker().items()):
        print(f"  {worker}: {count} flow runs")
    repeated = {name: n for name, n in outcome.runs_by_customer().items() if n != 1}
    if repeated:
        print(f"customers run more than once: {repeated}")
    for line in outcome.failures()[:10]:
        print(f"  failed {line}")
    wait, run = outcome.median_seconds()
    print(f"per customer run (median): {wait:.1f} s from created to running, {run:.1f} s running")
    print(f"fleet wall time with {workers} worker(s): {outcome.seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make scale-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument(
        "--tenants", type=int, default=10, help="customer tenants the subscriptions spread over"
    )
    parser.add_argument("--workers", type=int, default=2, help="process workers on the work pool")
    parser.add_argument("--runs-per-worker", type=int, default=4, help="flow runs one worker runs at once")
    parser.add_argument("--time-scale", type=float, default=0.01, help="multiplier for Azure's real delays")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the fleet run")
    parser.add_argument("--event-samples", type=int, default=5, help="drift events emitted after the fleet")
    parser.add_argument(
        "--profile", choices=["realistic", "fast"], default="realistic", help="sandbox latency profile"
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    state = ROOT / ".state" / "scale"
    shutil.rmtree(state, ignore_errors=True)
    catalog_dir = Path(tempfile.mkdtemp(prefix="ama-fleet-"))
    box = SandboxProcess(state / "sandbox", profile=args.profile, time_scale=args.time_scale)
    stack: ScaleStack | None = None
    try:
        specs = write_fleet_catalog(catalog_dir, args.customers, args.tenants)
        box.start()
        for spec in specs:
            register_customer(box, spec)
        print(
            f"sandbox ready ({args.profile} profile, time scale {args.time_scale}); {len(specs)} customers registered"
        )
        slots = args.workers * args.runs_per_worker
        env = {
            **box.env,
            "ONBOARDING_CATALOG_DIR": str(catalog_dir),
            # The fleet run may start as many customers as the pool has slots (one slot is its own).
            "ONBOARDING_FLEET_PARALLELISM": str(max(1, slots - 1)),
        }
        stack = ScaleStack(state, extra_env=env).start()
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in stack.timings.items())
        print(
            f"PostgreSQL :{stack.postgres.port}, Redis :{stack.redis.port}, Prefect {stack.prefect.ui_url} ({timings})"
        )
        if not stack.event_services_ready:
            print(
                f"WARNING: triggers/actions services not reading Redis after {stack.services_restarts} restart(s)"
            )
        stack.prefect.deploy(concurrency=slots)
        pause_schedules(stack.prefect.api_url, [WATCHER])
        for n in range(1, args.workers + 1):
            stack.prefect.start_worker(f"worker-{n}", limit=args.runs_per_worker)
        print(
            f"{args.workers} workers x {args.runs_per_worker} runs; running {len(specs)} customers through reconcile-fleet/nightly"
        )
        outcome = run_fleet(stack.prefect.api_url, timeout_s=args.timeout)
        report(outcome, len(specs), args.workers)
        vmss = first_scale_set(box, specs[0].name)
        if vmss:
            print(f"event stream backlog per consumer group: {stack.redis.stream_lag()}")
            print(event_latency(stack.prefect.api_url, specs[0].name, vmss, args.event_samples))
            print(f"event stream backlog per consumer group: {stack.redis.stream_lag()}")
        print(f"scale demo wall time: {time.monotonic() - started:.0f} s")
        return 0 if len(outcome.completed()) == len(specs) else 1
    finally:
        if stack:
            stack.stop()
        box.stop()
        shutil.rmtree(catalog_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
