"""The onboarding steps as plain functions (no Prefect): each reads, plans the difference, applies only what is
missing (nothing in a dry run), verifies, and returns a StepResult. ``StepRecorder`` builds that result."""

from __future__ import annotations

import time
from typing import Any

from ..changes import Change
from ..context import CustomerContext
from ..results import StepResult


class StepRecorder:
    """Collects what a step changed (or plans to), what was already right, and how long it waited."""

    def __init__(self, ctx: CustomerContext, step: str, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.result = StepResult(step=step, customer=ctx.spec.name, dry_run=dry_run)
        self._started = time.monotonic()

    def changed(self, done: str, planned: str) -> None:
        """Record a change: ``done`` says what happened, ``planned`` what a dry run would do (a dry run also keeps
        ``done`` in ``as_applied``: what the real run will report)."""
        if self.dry_run:
            self.result.changed.append(f"would {planned}")
            self.result.as_applied.append(done)
        else:
            self.result.changed.append(done)

    def change(self, what: str, change: Change, note: str = "") -> None:
        """Record what reconciling ``what`` did as ``what: change note`` (unchanged: as such); a planned change
        also keeps its applied form in ``as_applied``."""
        if change is Change.UNCHANGED:
            self.unchanged(what)
            return
        self.result.changed.append(f"{what}: {change}{note}")
        if change.planned:
            self.result.as_applied.append(f"{what}: {change.applied}{note}")

    def unchanged(self, text: str) -> None:
        self.result.unchanged.append(text)

    def waited(self, seconds: float) -> None:
        self.result.waited_s += seconds

    def include(self, other: StepResult, *, as_detail: str) -> None:
        """Take in what a step run as part of this one did (its details under ``as_detail``)."""
        self.result.changed.extend(other.changed)
        self.result.as_applied.extend(other.as_applied)
        self.result.unchanged.extend(other.unchanged)
        self.result.waited_s += other.waited_s
        self.result.details[as_detail] = other.details

    def finish(self, **details: Any) -> StepResult:
        self.result.details.update(details)
        self.result.duration_s = time.monotonic() - self._started
        return self.result
