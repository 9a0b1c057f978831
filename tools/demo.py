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
from sandbox.client import SandboxProcess

from .customers import register_customer
from .stack import ROOT, PrefectStack


def print_table(rows: list[dict[str, str]]) -> None:
    headers = ["customer", "result", "seconds", "reason"]
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}
    print("  ".join(h.ljust(widths[h]) for h in headers))
    print("  ".join("-" * widths[h] for h in headers))
    for row in rows:
        print("  ".join(str(row[h]).ljust(widths[h]) for h in headers))


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
        print(f"\nPrefect UI: {stack.ui_url}   demo wall time: {time.monotonic() - started:.0f} s")
        failed = [r for r in rows if r["result"] != "verified"]
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
