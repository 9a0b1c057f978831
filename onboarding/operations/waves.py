"""A fleet migration in waves, as plain functions (the migrate-fleet flow runs each wave's customers as tasks).

Wave 0 is the canary set, then waves of ``wave_size`` customers in selection order. A wave starts only when the
one before it has ended, and only if that wave's failure rate (failed customers / customers in the wave) did not
pass its threshold: 0 for the canary (one failing canary stops the rollout), ``max_failure_rate`` for the others.
Customers of the waves never started are reported as ``not-started``: nothing was read or written for them.

Resume needs no record of its own: the per-customer migration is the record. A customer it already finished
answers ``already-migrated`` after reads only (no write, no probe pod), so a re-run after a crash or a stop goes
through the same waves again and redoes no one; a customer a crash left half-way converges in the re-run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidSpecError
from ..redact import redact
from ..results import StepResult

FAILED = "failed"
NOT_STARTED = "not-started"


@dataclass(frozen=True)
class Outcome:
    """One customer's row of the fleet table: its wave, the migration's state (or failed / not-started)."""

    customer: str
    wave: int
    state: str
    seconds: float = 0.0
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.state == FAILED


@dataclass(frozen=True)
class WaveSummary:
    wave: int
    customers: int
    failed: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.customers if self.customers else 0.0


@dataclass
class Rollout:
    outcomes: list[Outcome] = field(default_factory=list)
    waves: list[WaveSummary] = field(default_factory=list)
    stopped: str = ""  # why no further wave started; empty when every wave ran

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]

    def rows(self) -> list[dict[str, Any]]:
        return [asdict(o) for o in self.outcomes]

    def counts(self) -> Counter[str]:
        return Counter(o.state for o in self.outcomes)


WaveRunner = Callable[[int, list[str]], list[Outcome]]


def plan_waves(names: Sequence[str], canary: Sequence[str], wave_size: int) -> list[list[str]]:
    """``[canary, wave 1, wave 2, ...]``: the canary set (possibly empty) first, then the other customers in
    order, ``wave_size`` at a time. A canary name not among ``names`` is refused before anything runs."""
    if wave_size < 1:
        raise InvalidSpecError(f"wave_size must be at least 1, not {wave_size}")
    selected = set(names)
    unknown = [name for name in canary if name not in selected]
    if unknown:
        raise InvalidSpecError(
            f"canary {', '.join(map(repr, unknown))} not among the customers of this rollout",
            hint="name canaries from the selected customers (or select them too)",
        )
    first = list(dict.fromkeys(canary))
    rest = [name for name in names if name not in first]
    return [first, *(rest[i : i + wave_size] for i in range(0, len(rest), wave_size))]


def migrate_one(customer: str, wave: int, migrate: Callable[[], StepResult]) -> Outcome:
    """``migrate()`` for one customer as its fleet row; never raises: a failure is the row's state and error."""
    started = time.monotonic()
    try:
        state = str(migrate().details.get("state", "?"))
    except (
        Exception
    ) as exc:  # one customer's failure is its row; the wave's failure rate decides what follows
        return Outcome(customer, wave, FAILED, _since(started), redact(f"{type(exc).__name__}: {exc}"))
    return Outcome(customer, wave, state, _since(started))


def stop_reason(wave: WaveSummary, failed: Sequence[str], max_failure_rate: float) -> str:
    """Why no wave may follow this one ("" when the next may start)."""
    limit = 0.0 if wave.wave == 0 else max_failure_rate
    if wave.failure_rate <= limit:
        return ""
    what = "the canary wave" if wave.wave == 0 else f"wave {wave.wave}"
    return (
        f"{what} failed for {', '.join(failed)}: {wave.failed} of {wave.customers} "
        f"({wave.failure_rate:.0%}, more than {limit:.0%}); no further wave started"
    )


def roll_out(waves: Sequence[list[str]], run_wave: WaveRunner, max_failure_rate: float) -> Rollout:
    """Run the waves in order with ``run_wave(index, names)`` (one Outcome per name) until one fails too often."""
    rollout = Rollout()
    for index, names in enumerate(waves):
        if not names:
            continue
        outcomes = run_wave(index, names)
        summary = WaveSummary(index, len(outcomes), sum(o.failed for o in outcomes))
        rollout.outcomes += outcomes
        rollout.waves.append(summary)
        rollout.stopped = stop_reason(summary, [o.customer for o in outcomes if o.failed], max_failure_rate)
        if rollout.stopped:
            rollout.outcomes += [
                Outcome(name, later, NOT_STARTED)
                for later, rest in enumerate(waves[index + 1 :], start=index + 1)
                for name in rest
            ]
            break
    return rollout


def summary_markdown(rollout: Rollout, *, dry_run: bool) -> str:
    """The fleet run's summary: states, each wave's failure rate, why it stopped."""
    counts = ", ".join(f"{state}: {n}" for state, n in sorted(rollout.counts().items()))
    lines = [
        f"# Fleet migration to workload identity{' (dry run)' if dry_run else ''}",
        "",
        f"{len(rollout.outcomes)} customers ({counts}).",
        "",
        "| wave | customers | failed | failure rate |",
        "|---|---|---|---|",
        *(
            f"| {'canary' if w.wave == 0 else w.wave} | {w.customers} | {w.failed} | {w.failure_rate:.0%} |"
            for w in rollout.waves
        ),
        "",
        f"**Stopped:** {rollout.stopped}" if rollout.stopped else "Every wave ran.",
    ]
    return "\n".join(lines) + "\n"


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)
