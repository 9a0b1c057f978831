"""Scenario 4: a node pool is added through ARM -> its scale set carries the customer's identity, through the real
server, worker and automation: the watcher's run is started right after the adds, as its schedule would at its next
tick; its aks.nodepool.created events trigger attach-node-pool runs. Pools are added in batches (one agent pool
operation at a time per cluster), one tick per batch, and the batch's reactions are awaited before the next: a tick
re-emits every pool still lacking the identity, so overlapping ticks would multiply the runs. Without the bench the
tick comes on average half a watch interval after the add, so the expected reaction adds that."""

from __future__ import annotations

import statistics
import time

from onboarding.catalog import find_customer
from onboarding.settings import get_settings
from tools.cloud_actions import add_agent_pool, scale_set_identities
from tools.stack import PrefectStack

from .common import Bench, Figure
from .prefect_runs import start_run

WATCH = "watch-node-pools/safety-net"
TIMEOUT_S = 600.0
BATCH = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(bench: Bench, stack: PrefectStack, customer: str, additions: int, batch: int = BATCH) -> None:
    spec = find_customer(customer, bench.catalog_dir)
    identity = f"/{spec.managed_application.parameters.aks_name.lower()}-identity"
    ticks: dict[str, float] = {}
    reactions: dict[str, float] = {}

    def collect() -> None:
        now = time.monotonic()
        for name, ids in scale_set_identities(bench.box, spec).items():
            pool = name.split("-")[1]
            if pool in ticks and pool not in reactions and any(i.endswith(identity) for i in ids):
                reactions[pool] = now - ticks[pool]

    for first in range(0, additions, batch):
        pools = [f"ev{i}" for i in range(first, min(first + batch, additions))]
        for pool in pools:
            add_agent_pool(bench.box, spec, pool)
        tick = time.monotonic()
        ticks.update(dict.fromkeys(pools, tick))
        start_run(stack, WATCH, {"customers": [customer]})
        deadline = tick + TIMEOUT_S
        while len(reactions) < len(ticks) and time.monotonic() < deadline:
            time.sleep(0.25)
            collect()
        print(f"# node pools {pools[0]}..{pools[-1]}: {len(reactions)} reactions so far", flush=True)
    from_tick = list(reactions.values())
    if not from_tick:
        raise TimeoutError(f"no node pool of {customer} got its identity within {TIMEOUT_S:g} s")
    p50, p95 = statistics.median(from_tick), percentile(from_tick, 0.95)
    bench.details["events"] = {
        "customer": customer,
        "additions": additions,
        "batch": batch,
        "reacted": len(from_tick),
        "from_tick_s": {pool: round(s, 2) for pool, s in reactions.items()},
    }
    bench.report(Figure("event_reaction_p50", round(p50, 2), "s", note="from the watch tick"))
    bench.report(Figure("event_reaction_p95", round(p95, 2), "s", note="from the watch tick"))
    interval = get_settings().watch_interval_s  # prefect.yaml: the safety-net schedule
    bench.report(Figure("event_reaction_expected_p50", round(p50 + interval / 2, 2), "s"))
    bench.report(Figure("watch_interval", interval, "s"))
