"""`make demo`: the sandbox (realistic profile, time-scaled), a Prefect server, the catalog's deployments and a
worker; every catalog customer onboarded as the UI's Run button would; a summary table; everything stopped.

    python -m tools.demo [--keep] [--time-scale 0.01]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import time

from onboarding.catalog import load_catalog
from onboarding.errors import OnboardingError
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.settings import REPOSITORY_CATALOG, Settings
from sandbox.client import SandboxProcess

from .cloud_actions import wait_for
from .customers import register_customer
from .fleet_catalog import customer_document
from .push_path import onboard_runs, plan_notifications, pool_reaction, purchase
from .receiver_process import Receiver
from .stack import ROOT, PrefectStack

PURCHASE_INDEX = 902  # shape 2 of the generated catalog: a Marketplace plan, bought during the demo


def print_table(rows: list[dict[str, str]]) -> None:
    headers = ["customer", "result", "seconds", "reason"]
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}
    print("  ".join(h.ljust(widths[h]) for h in headers))
    print("  ".join("-" * widths[h] for h in headers))
    for row in rows:
        print("  ".join(str(row[h]).ljust(widths[h]) for h in headers))


def node_pool_push_path(box: SandboxProcess, spec: CustomerSpec) -> float:
    """A customer adds a node pool through ARM; Event Grid tells the receiver, whose Prefect event triggers
    attach-node-pool. Prints the contract line."""
    pool = "demo"
    print(f"\nadding node pool {pool!r} to {spec.name} through ARM ...")
    seconds = pool_reaction(box, spec, pool)
    print(f"node pool {pool}: identity attached in {seconds:.1f} s (push)")
    return seconds


def purchase_path(box: SandboxProcess, stack: PrefectStack, receiver: Receiver, sig: str) -> dict[str, str]:
    """A customer not in the catalog buys the Marketplace plan; its notification reaches the receiver, automatic
    intake writes the catalog entry and onboards it. Returns its summary row."""
    doc = customer_document(PURCHASE_INDEX, tenants=3)
    doc["managed_application"]["adopt_only"] = False
    spec = load_customer_spec(doc)
    register_customer(box, spec)
    plan = spec.managed_application.plan
    assert plan is not None
    app = spec.managed_application.name
    print(f"\n{spec.name} buys the Marketplace plan {plan.name} (application {app}) ...")
    started = time.monotonic()
    try:
        with plan_notifications(box, plan.model_dump(), f"{receiver.url}/notifications?sig={sig}"):
            purchase(spec, Settings())
            wait_for(lambda: onboard_runs(stack.api_url, app), timeout_s=900, interval_s=0.5)
    except (TimeoutError, OnboardingError) as exc:
        reason = (
            str(exc) if isinstance(exc, OnboardingError) else "the purchase was not onboarded within 900 s"
        )
        return {"customer": app, "result": "failed", "seconds": "-", "reason": reason[:160]}
    seconds = time.monotonic() - started
    print(f"purchase of {app}: verified in {seconds:.1f} s (push, automatic intake)")
    return {"customer": app, "result": "verified", "seconds": f"{seconds:.1f}", "reason": "from purchase"}


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
    worker_catalog = state / "catalog"  # automatic intake writes here, never into the repository's catalog
    shutil.copytree(REPOSITORY_CATALOG, worker_catalog)
    box = SandboxProcess(state / "sandbox", profile="realistic", time_scale=args.time_scale).start()
    box.apply_env()  # this process buys a plan for a customer, as the customer would
    print(f"sandbox ready in {box.start_seconds:.1f} s (realistic profile, time scale {args.time_scale})")
    env = {**box.env, "ONBOARDING_CATALOG_DIR": str(worker_catalog), "ONBOARDING_INTAKE_AUTO": "true"}
    stack = PrefectStack(state / "prefect", extra_env=env)
    key, sig = secrets.token_hex(16), secrets.token_hex(16)
    receiver: Receiver | None = None
    try:
        for spec in catalog:
            register_customer(box, spec)
        stack.start()
        print(f"Prefect server at {stack.ui_url}")
        receiver = Receiver(
            state / "receiver", api_url=stack.api_url, catalog=worker_catalog, key=key, sig=sig
        )
        receiver.start()
        print(f"receiver at {receiver.url} (Event Grid and managed application notifications)")
        # Onboarding gives each customer its Event Grid subscription to the receiver.
        stack.extra_env.update(
            {"ONBOARDING_RECEIVER_PUBLIC_URL": receiver.url, "ONBOARDING_RECEIVER_EVENTGRID_KEY": key}
        )
        stack.deploy()
        stack.start_worker()
        stack.start_warm_runner()  # the event path's flows start in a process that is already warm
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
        rows.append(purchase_path(box, stack, receiver, sig))
        print()
        print_table(rows)
        failed = [r for r in rows if r["result"] != "verified"]
        verified = [spec for spec in catalog if spec.name not in {r["customer"] for r in failed}]
        if verified:
            node_pool_push_path(box, verified[0])
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
        if receiver is not None:
            receiver.stop()
        stack.stop()
        box.stop()


if __name__ == "__main__":
    sys.exit(main())
