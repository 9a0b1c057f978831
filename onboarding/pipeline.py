"""The onboarding pipeline, declared once: ``STEPS`` says each step's name, function, what it needs and when it runs.

``run_pipeline`` walks the declaration; a ``StepRunner`` says how one step runs: as a plain call in this process
(``PlainRunner``: ``plan``, ``onboard`` on the command line, the benchmarks, the chaos suite) or as a Prefect task
(tasks/onboarding.py). Both run each step under the one retry policy (onboarding/retry.py). Changing the order or
adding a step is an edit of ``STEPS``.

A step that ``overlaps`` starts and runs beside the steps declared after it; the first step that ``joins`` (or the
end of the pipeline) waits for it. Installing pod identity needs only the cluster, so it runs while the Azure side
waits for role propagation and scale set updates instead of after them.
"""

from __future__ import annotations

import contextvars
import enum
import importlib
import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from .cluster import ClusterInfo
from .context import CustomerContext
from .models import CustomerSpec
from .results import StepResult
from .retry import Attempts, LoggedAttempts, RetryPolicy, run_with_retries


class Needs(enum.IntEnum):
    """What a step's function takes after the customer's context."""

    CUSTOMER = 0  # fn(ctx)
    CLUSTER = 1  # fn(ctx, cluster)
    SCALE_SET = (
        2  # fn(ctx, cluster, vmss_id): one run per node pool scale set (in parallel where the runner can)
    )


class StepInput(BaseModel):
    """What one run of a step is given besides the customer (serialisable: a Prefect task's parameters)."""

    dry_run: bool = False
    cluster: ClusterInfo | None = None
    scale_set: str | None = None
    done: list[str] = []


def _always(spec: CustomerSpec, cluster: ClusterInfo | None) -> bool:
    return True


def _no_options(given: StepInput) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Step:
    name: str
    function: str  # "module:function" under onboarding/, imported when the step first runs (a run that needs
    # only some steps, like the node pool event path, does not import the Kubernetes client, helm and storage SDKs)
    stage: int  # progress shown as stage / STAGES when the stage's last step ends
    needs: Needs = Needs.CLUSTER
    writes: bool = True  # takes ``dry_run``
    finds_cluster: bool = False  # returns (ClusterInfo, StepResult)
    when: Callable[[CustomerSpec, ClusterInfo | None], bool] = _always
    options: Callable[[StepInput], dict[str, Any]] = _no_options
    ends_plan: Callable[[StepResult], bool] = field(default=lambda result: False)
    overlaps: bool = False  # starts, and the steps after it run meanwhile (see the module doc)
    joins: bool = False  # waits for the overlapping steps first

    def call(self, ctx: CustomerContext, given: StepInput) -> Any:
        """Run the step's function once with what it needs."""
        module, name = self.function.split(":")
        fn = getattr(importlib.import_module(f"onboarding.{module}"), name)
        args: list[Any] = [ctx]
        if self.needs >= Needs.CLUSTER:
            args.append(given.cluster)
        if self.needs is Needs.SCALE_SET:
            args.append(given.scale_set)
        kwargs = {"dry_run": given.dry_run} if self.writes else {}
        return fn(*args, **kwargs, **self.options(given))


def grants_reader_early(spec: CustomerSpec, cluster: ClusterInfo | None) -> bool:
    """Grant Storage Blob Data Reader right after discovery rather than in verify: its propagation (as slow as the
    deployment's) then runs while roles, scale sets and pod identity are done, instead of after them."""
    return spec.storage.grant_reader and cluster is not None and cluster.storage_account_id is not None


STORAGE_READER = "ensure-storage-reader"

STEPS: tuple[Step, ...] = (
    Step(
        "ensure-managed-app",
        "steps.managed_app:ensure_managed_app",
        stage=1,
        needs=Needs.CUSTOMER,
        ends_plan=lambda result: not result.details.get("exists", True),  # a plan of a new application
    ),
    Step(
        "discover-cluster",
        "steps.discover:discover",
        stage=2,
        needs=Needs.CUSTOMER,
        writes=False,
        finds_cluster=True,
    ),
    Step(STORAGE_READER, "steps.storage:ensure_storage_reader", stage=2, when=grants_reader_early),
    # Cheap (a few reads, and writes only on the first run); after the reader grant so that it runs while that
    # grant propagates. Its handshake answers in milliseconds when the receiver is up.
    Step("ensure-event-subscriptions", "steps.events:ensure_event_subscriptions", stage=2),
    # Kubernetes objects and the helm chart, with the publisher's cluster credentials: nothing on the Azure side
    # waits for them, nor they for it, until the probe.
    Step("install-pod-identity", "steps.pod_identity:install_pod_identity", stage=5, overlaps=True),
    Step("ensure-node-rg-roles", "steps.roles:ensure_node_rg_roles", stage=3),
    Step("attach-identities", "steps.attach:attach_identities", stage=4, needs=Needs.SCALE_SET),
    Step(
        "verify-storage-access",
        "steps.verify:verify_storage_access",
        stage=6,
        options=lambda given: {"grant": STORAGE_READER not in given.done},
        joins=True,
    ),
)
STEP_BY_NAME = {step.name: step for step in STEPS}
STAGES = max(step.stage for step in STEPS)


class Pending(Protocol):
    """A step started beside the others (a thread's future, a Prefect task's future)."""

    def result(self) -> Any: ...


class StepRunner(Protocol):
    """How a step runs: one call, one call per scale set (which a runner may run in parallel), or one call started
    beside the steps after it."""

    def run(self, step: Step, given: StepInput) -> Any: ...

    def run_each(self, step: Step, given: Sequence[StepInput]) -> list[StepResult]: ...

    def start(self, step: Step, given: StepInput) -> Pending: ...


def run_pipeline(
    runner: StepRunner,
    spec: CustomerSpec,
    *,
    dry_run: bool,
    results: list[StepResult],
    progress: Callable[[int], None] = lambda stage: None,
    through: str | None = None,
) -> ClusterInfo | None:
    """Run ``STEPS`` in order (``through`` the named one only: an overlapping step of a later stage does not start),
    appending each result as it comes (a failure leaves the ones before it there, and the overlapping ones that
    finished); ``progress`` hears each of the ``STAGES`` as it ends. None when a plan stops at a missing
    application."""
    cluster: ClusterInfo | None = None
    done: list[str] = []
    started: list[tuple[Step, Pending]] = []
    last_stage = STEP_BY_NAME[through].stage if through else STAGES
    sequence = [step for step in STEPS if step.stage <= last_stage or not step.overlaps]

    def join() -> None:
        while started:
            step, pending = started.pop(0)
            results.append(pending.result())
            done.append(step.name)
            progress(step.stage)

    try:
        for index, step in enumerate(sequence):
            if step.joins:
                join()
            if step.when(spec, cluster):
                given = StepInput(dry_run=dry_run, cluster=cluster, done=list(done))
                if step.overlaps:
                    started.append((step, runner.start(step, given)))
                elif step.needs is Needs.SCALE_SET:
                    assert cluster is not None, f"{step.name} runs after discovery"
                    each = [given.model_copy(update={"scale_set": vmss_id}) for vmss_id in cluster.scale_sets]
                    results.extend(runner.run_each(step, each))
                else:
                    outcome = runner.run(step, given)
                    if step.finds_cluster:
                        cluster, outcome = outcome
                    results.append(outcome)
                    if dry_run and step.ends_plan(outcome):
                        cluster = None
                        break
                if not step.overlaps:
                    done.append(step.name)
            following = [s for s in sequence[index + 1 :] if not s.overlaps]
            if not step.overlaps and (not following or following[0].stage != step.stage):
                progress(step.stage)
            if step.name == through:
                break
    except BaseException:
        _settle(started, results)
        raise
    join()
    return cluster


def _settle(started: list[tuple[Step, Pending]], results: list[StepResult]) -> None:
    """After a failure: wait for the overlapping steps (nothing is left running), keep the results of those that
    finished, and log the others' errors (the failure being raised is the run's)."""
    for step, pending in started:
        try:
            results.append(pending.result())
        except Exception as error:  # the first failure is raised; this one is logged
            logging.getLogger("onboarding").warning("%s also failed: %s", step.name, error)
    started.clear()


class PlainRunner:
    """Each step as a plain call in this process, under the retry policy; scale sets one after another."""

    def __init__(
        self, ctx: CustomerContext, *, attempts: Attempts | None = None, rng: random.Random | None = None
    ) -> None:
        self.ctx = ctx
        self.attempts = attempts or LoggedAttempts(logging.getLogger("onboarding"))
        self.policy = RetryPolicy.from_settings(ctx.settings)
        self.rng = rng or random.Random()

    def run(self, step: Step, given: StepInput) -> Any:
        return run_with_retries(
            lambda: step.call(self.ctx, given),
            step=step.name,
            customer=self.ctx.spec.name,
            policy=self.policy,
            attempts=self.attempts,
            rng=self.rng,
        )

    def run_each(self, step: Step, given: Sequence[StepInput]) -> list[StepResult]:
        return [self.run(step, one) for one in given]

    def start(self, step: Step, given: StepInput) -> Future[Any]:
        """The step in a thread of its own (with this thread's context: the logging and deadline variables)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=step.name)
        future = executor.submit(contextvars.copy_context().run, self.run, step, given)
        executor.shutdown(wait=False)
        return future


def run_onboarding(
    ctx: CustomerContext,
    *,
    dry_run: bool,
    attempts: Attempts | None = None,
    rng: random.Random | None = None,
    through: str | None = None,
) -> tuple[list[StepResult], ClusterInfo | None]:
    """The pipeline as plain calls (``through`` the named step only): its results (so far, when a step raised) and
    the cluster."""
    results: list[StepResult] = []
    runner = PlainRunner(ctx, attempts=attempts, rng=rng)
    cluster = run_pipeline(runner, ctx.spec, dry_run=dry_run, results=results, through=through)
    return results, cluster
