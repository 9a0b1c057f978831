"""`make demo`: the sandbox (realistic profile, time-scaled), a Prefect server, the catalog's deployments and a
worker; every catalog customer onboarded as the UI's Run button would; a summary table; everything stopped.

    python -m tools.demo [--keep] [--time-scale 0.01]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from onboarding.catalog import load_catalog
from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess

from .cloud_actions import add_agent_pool, scale_set_identities, wait_for
from .customers import register_customer
from .stack import ROOT, PrefectStack


def print_table(rows: list[dict[str, str]]) -> None:
    headers = ["customer", "result", "seconds", "reason"]
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}
    print("  ".join(h.ljust(widths[h]) for h in headers))
    print("  ".join("-" * widths[h] for h in headers))
    for row in rows:
        print("  ".join(str(row[h]).ljust(widths[h]) for h in headers))


def node_pool_event_path(box: SandboxProcess, stack: PrefectStack, spec: CustomerSpec) -> float:
    """A customer adds a node pool through ARM; the watcher's next tick (run now instead of waiting for the
    minute) emits aks.nodepool.created, whose trigger runs attach-node-pool. Prints the contract line."""
    pool = "demo"
    print(f"\nadding node pool {pool!r} to {spec.name} through ARM ...")
    created = add_agent_pool(box, spec, pool)
    stack.run_deployments(["watch-node-pools/safety-net"])
    identity = f"/{spec.managed_application.parameters.aks_name.lower()}-identity"

    def attached() -> bool:
        found = scale_set_identities(box, spec)
        return any(
            n.startswith(f"aks-{pool}-") and any(i.endswith(identity) for i in ids)
            for n, ids in found.items()
        )

    wait_for(attached, timeout_s=300, interval_s=0.25)
    seconds = time.time() - created
    print(f"node pool {pool}: identity attached in {seconds:.1f} s")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep everything running to look at the Prefect UI"
    )
    parser.add_argument("--time-scale", type=float, default=0.01, help="multiplier for Azure's real delays")
    args = parser.parse_args(argv)

    started = time.monotonic()
    state = ROOT / ".state" / "demo"
    shutil.rmtree(state, ignore_errors=True)
    catalog = load_catalog()
    box = SandboxProcess(state / "sandbox", profile="realistic", time_scale=args.time_scale).start()
    print(f"sandbox ready in {box.start_seconds:.1f} s (realistic profile, time scale {args.time_scale})")
    stack = PrefectStack(state / "prefect", extra_env=box.env)
    try:
        for spec in catalog:
            register_customer(box, spec)
        stack.start()
        print(f"Prefect server at {stack.ui_url}")
        stack.deploy()
        stack.start_worker()
        names = [f"onboard-customer/{spec.name}" for spec in catalog]
        print(f"running {len(names)} deployments: {', '.join(names)}")
        runs = stack.run_deployments(names)
        rows = []
        for spec in catalog:
            run = runs[f"onboard-customer/{spec.name}"]
            state_name = run.state.type.value if run.state else "UNKNOWN"
            seconds = f"{run.total_run_time.total_seconds():.1f}" if run.total_run_time else "-"
            rows.append(
                {
                    "customer": spec.name,
                    "result": "verified" if state_name == "COMPLETED" else "failed",
                    "seconds": seconds,
                    "reason": "" if state_name == "COMPLETED" else (run.state.message or state_name)[:160],
                }
            )
        print()
        print_table(rows)
        failed = [r for r in rows if r["result"] != "verified"]
        verified = [spec for spec in catalog if spec.name not in {r["customer"] for r in failed}]
        if verified:
            node_pool_event_path(box, stack, verified[0])
        else:
            failed.append({"customer": "node pool event path", "reason": "no verified customer to use"})
        print(f"\nPrefect UI: {stack.ui_url}   demo wall time: {time.monotonic() - started:.0f} s")
        if args.keep:
            print("Keeping everything running; press Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 1 if failed else 0
    finally:
        stack.stop()
        box.stop()


if __name__ == "__main__":
    sys.exit(main())
