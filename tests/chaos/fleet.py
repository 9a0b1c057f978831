"""Customers for the chaos suite (the generated fleet catalog's three shapes) and their onboarding: the product's
pipeline (onboarding/pipeline.py: its STEPS, in the production order) under the product's retry runner
(onboarding/retry.py), the same code every Prefect task runs, without a Prefect server.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.errors import TransientError
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.pipeline import run_onboarding
from sandbox.client import SandboxProcess
from tools.customers import register_customer
from tools.fleet_catalog import customer_document


def fleet_specs(first: int, count: int) -> list[CustomerSpec]:
    """``count`` valid customers from the generated catalog, indexes ``first``... (disjoint ranges per module)."""
    return [load_customer_spec(customer_document(i, tenants=5)) for i in range(first, first + count)]


def register(box: SandboxProcess, specs: list[CustomerSpec]) -> None:
    for spec in specs:
        register_customer(box, spec)


@dataclass
class Tally:
    """Retries the policy spent, by step (shared by the threads of a fleet run: onboarding.retry.Attempts);
    ``announce`` prints each attempt's start (``step <name>``) for a crash trial watching a subprocess."""

    retries: dict[str, int] = field(default_factory=dict)
    unexpected_errors: list[str] = field(default_factory=list)
    announce: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, step: str, attempt: int) -> None:
        if self.announce:
            with self._lock:  # overlapping steps start in threads: one whole line each
                print(f"step {step}", flush=True)

    def retrying(self, step: str, attempt: int, error: TransientError, delay_s: float) -> None:
        with self._lock:
            self.retries[step] = self.retries.get(step, 0) + 1

    def unexpected(self, step: str, error: Exception) -> None:
        with self._lock:
            self.unexpected_errors.append(f"{step}: {type(error).__name__}")

    @property
    def total(self) -> int:
        return sum(self.retries.values())


def onboard(ctx: CustomerContext, *, tally: Tally, rng: random.Random) -> ClusterInfo:
    """The onboard-customer flow's pipeline, each step under the retry policy; returns the discovered cluster."""
    results, cluster = run_onboarding(ctx, dry_run=False, attempts=tally, rng=rng)
    assert cluster is not None and results[-1].details.get("verified"), (
        f"{ctx.spec.name}: storage not verified"
    )
    return cluster
