"""Customers for the chaos suite (the generated fleet catalog's three shapes) and their onboarding as plain step
functions under the product's task retry policy (tasks/policy.py), without a Prefect server.

``onboard`` chains the steps as flows/onboard_customer.py does and retries each step alone, as its task would be:
``retry_condition_fn`` decides (transient errors only), ``retries`` bounds the attempts and the delays are the
task's exponential backoff with its jitter factor.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.steps.attach import attach_identities
from onboarding.steps.discover import discover_cluster
from onboarding.steps.managed_app import ensure_managed_app
from onboarding.steps.pod_identity import install_pod_identity
from onboarding.steps.roles import ensure_node_rg_roles
from onboarding.steps.verify import verify_storage_access
from sandbox.client import SandboxProcess
from tasks.policy import retry_options
from tools.customers import register_customer
from tools.fleet_catalog import customer_document

T = TypeVar("T")


def fleet_specs(first: int, count: int) -> list[CustomerSpec]:
    """``count`` valid customers from the generated catalog, indexes ``first``... (disjoint ranges per module)."""
    return [load_customer_spec(customer_document(i, tenants=5)) for i in range(first, first + count)]


def register(box: SandboxProcess, specs: list[CustomerSpec]) -> None:
    for spec in specs:
        register_customer(box, spec)


@dataclass
class Tally:
    """Retries the policy spent, by step (shared by the threads of a fleet run); ``announce`` prints each step's
    start (``step <name>``) for a crash trial watching a subprocess."""

    retries: dict[str, int] = field(default_factory=dict)
    announce: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, step: str) -> None:
        if self.announce:
            print(f"step {step}", flush=True)

    def retried(self, step: str) -> None:
        with self._lock:
            self.retries[step] = self.retries.get(step, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.retries.values())


class FailedState:
    """The part of a Prefect state that ``retry_condition_fn`` reads: ``result()`` re-raises the exception."""

    def __init__(self, exc: BaseException) -> None:
        self._exc = exc

    def result(self) -> Any:
        raise self._exc


def run_step(fn: Callable[..., T], *args: Any, tally: Tally, rng: random.Random, **kwargs: Any) -> T:
    options = retry_options()
    delays: list[float] = options["retry_delay_seconds"]
    jitter: float = options["retry_jitter_factor"]
    for attempt in itertools.count():
        tally.started(fn.__name__)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if attempt >= options["retries"] or not options["retry_condition_fn"](
                None, None, FailedState(exc)
            ):
                raise
            tally.retried(fn.__name__)
            time.sleep(delays[attempt] * rng.uniform(1 - jitter, 1 + jitter))
    raise AssertionError("unreachable")


def onboard(ctx: CustomerContext, *, tally: Tally, rng: random.Random) -> ClusterInfo:
    """The onboard-customer flow's steps, each under the task retry policy; returns the discovered cluster."""

    def step(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return run_step(fn, *args, tally=tally, rng=rng, **kwargs)

    step(ensure_managed_app, ctx, dry_run=False)
    cluster = step(discover_cluster, ctx)
    step(ensure_node_rg_roles, ctx, cluster, dry_run=False)
    for vmss_id in cluster.scale_sets:
        step(attach_identities, ctx, cluster, vmss_id, dry_run=False)
    step(install_pod_identity, ctx, cluster, dry_run=False)
    result = step(verify_storage_access, ctx, cluster, dry_run=False)
    assert result.details.get("verified"), f"{ctx.spec.name}: storage access not verified"
    return cluster
