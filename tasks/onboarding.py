"""The onboarding steps (onboarding/pipeline.py: STEPS) as Prefect tasks, one per step, made from the declaration.

Each task builds the customer's context in the worker and runs its step under the retry policy; a step is imported
when it first runs, so a flow run that needs only some steps (the node pool event path: discover and attach) does
not import the Kubernetes client, helm and storage SDKs at start-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from onboarding.models import CustomerSpec
from onboarding.pipeline import STEPS, Step, StepInput
from onboarding.results import StepResult

from .context import context_for
from .policy import under_policy


def _task_of(step: Step) -> Task[[CustomerSpec, StepInput], object]:
    def run_step(spec: CustomerSpec, given: StepInput) -> object:
        return under_policy(lambda: step.call(context_for(spec), given), step=step.name, customer=spec.name)

    run_step.__qualname__ = run_step.__name__ = step.name.replace("-", "_")  # Prefect's task key
    return task(name=step.name, task_run_name=f"{step.name}-{{spec.name}}", cache_policy=NO_CACHE)(run_step)


STEP_TASKS: dict[str, Task[[CustomerSpec, StepInput], object]] = {step.name: _task_of(step) for step in STEPS}


class TaskRunner:
    """The pipeline's steps (onboarding.pipeline.StepRunner) as these tasks; scale sets attach in parallel, and an
    overlapping step is a submitted task."""

    def __init__(self, spec: CustomerSpec) -> None:
        self.spec = spec

    def run(self, step: Step, given: StepInput) -> Any:
        return STEP_TASKS[step.name](self.spec, given)

    def run_each(self, step: Step, given: Sequence[StepInput]) -> list[StepResult]:
        futures = [STEP_TASKS[step.name].submit(self.spec, one) for one in given]
        return [cast(StepResult, future.result()) for future in futures]

    def start(self, step: Step, given: StepInput) -> PrefectFuture[object]:
        return STEP_TASKS[step.name].submit(self.spec, given)
