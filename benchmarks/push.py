"""Scenario 5: the push path, everything real. The receiver runs beside the Prefect server; onboarding's own step
gives the customer its Event Grid subscription. Node pools are added through ARM one at a time and timed from the
pool being ready to its scale set carrying the identity (Event Grid -> receiver -> Prefect event -> trigger ->
attach-node-pool on the warm runner; a few first on the process worker alone, for comparison); then a customer
buys the Marketplace plan and is timed to verified (notification -> receiver -> application-event ->
onboard-customer). The scale set identity update's own configured wait is reported beside the push figures: it is
the floor no path can go under."""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

import yaml
from pydantic import SecretStr

from onboarding.catalog import find_customer
from onboarding.context import CustomerContext
from onboarding.models import load_customer_spec
from onboarding.pipeline import run_onboarding
from tools.cloud_actions import wait_for
from tools.customers import register_customer
from tools.fleet_catalog import customer_document
from tools.push_path import onboard_runs, plan_notifications, pool_reaction, purchase
from tools.receiver_process import Receiver
from tools.stack import PrefectStack

from .common import Bench, Figure, settings
from .events import percentile

PURCHASE_INDEX = 3302  # shape 2: a Marketplace plan (bought here, not adopted)
COLD_ADDITIONS = 3  # pools timed with only the process worker (a new Python process per run), for comparison


def run(bench: Bench, stack: PrefectStack, customer: str, additions: int, work: Path) -> None:
    key, sig = uuid.uuid4().hex, uuid.uuid4().hex
    receiver = Receiver(work, api_url=stack.api_url, catalog=bench.catalog_dir, key=key, sig=sig).start()
    try:
        spec = find_customer(customer, bench.catalog_dir)
        pushed = settings().model_copy(
            update={"receiver_public_url": receiver.url, "receiver_eventgrid_key": SecretStr(key)}
        )
        # the customer is onboarded already: this adds the subscription
        run_onboarding(CustomerContext(spec, pushed), dry_run=False)
        cold = [pool_reaction(bench.box, spec, f"cold{i}") for i in range(COLD_ADDITIONS)]
        runner = stack.start_warm_runner()
        try:
            warm = [pool_reaction(bench.box, spec, f"push{i}") for i in range(additions)]
            _report_pools(bench, warm, cold)
            _purchase(bench, stack, receiver, sig)
        finally:
            stack.stop_runner(runner)
    finally:
        receiver.stop()


def _report_pools(bench: Bench, reactions: list[float], cold: list[float]) -> None:
    p50, p95 = statistics.median(reactions), percentile(reactions, 0.95)
    update_wait = float(bench.timing["vmss_update_s"])
    bench.details["push"] = {
        "reactions_s": [round(s, 2) for s in reactions],
        "process_worker_only_s": [round(s, 2) for s in cold],
        "vmss_update_s": update_wait,
    }
    note = "agent pool ready -> identity (warm runner)"
    bench.report(Figure("event_reaction_push_p50", round(p50, 2), "s", note=note))
    bench.report(Figure("event_reaction_push_p95", round(p95, 2), "s", note=note))
    bench.report(Figure("scale_set_update_wait", round(update_wait, 2), "s", note="configured, the floor"))
    worker = statistics.median(cold)
    bench.report(
        Figure("event_reaction_push_process_worker_p50", round(worker, 2), "s", note="no warm runner")
    )
    poll = next((f for f in bench.figures if f.name == "event_reaction_expected_p50"), None)
    if poll is not None:
        bench.report(
            Figure("event_reaction_push_vs_poll", poll.value / p50, note="poll expected p50 / push p50")
        )


def _purchase(bench: Bench, stack: PrefectStack, receiver: Receiver, sig: str) -> None:
    doc = customer_document(PURCHASE_INDEX, tenants=10)
    doc["managed_application"]["adopt_only"] = False
    spec = load_customer_spec(doc)
    register_customer(bench.box, spec)
    (bench.catalog_dir / f"{spec.name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    plan = spec.managed_application.plan
    assert plan is not None
    started = time.monotonic()
    with plan_notifications(bench.box, plan.model_dump(), f"{receiver.url}/notifications?sig={sig}"):
        deployed = purchase(spec, settings())
        wait_for(lambda: onboard_runs(stack.api_url, spec.name), timeout_s=900, interval_s=0.25)
    total = time.monotonic() - started
    bench.details["purchase"] = {"customer": spec.name, "deployment_s": round(deployed, 2)}
    bench.report(Figure("purchase_to_verified", round(total, 2), "s", note=f"deployment {deployed:.1f} s"))
