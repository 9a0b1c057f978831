"""The fleet migration's waves (onboarding/operations/waves.py) with a small in-memory fleet that keeps the
per-customer migration's contract: "migrated" after writing, "already-migrated" writing nothing, a failure raises."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import pytest

from onboarding.errors import InvalidSpecError, PermanentError
from onboarding.operations.waves import (
    FAILED,
    NOT_STARTED,
    Outcome,
    Rollout,
    migrate_one,
    plan_waves,
    roll_out,
    summary_markdown,
)
from onboarding.results import StepResult

NAMES = [f"c{i:02d}" for i in range(1, 11)]


class Crash(BaseException):
    """The worker process dying mid-rollout (not an Exception: nothing in the rollout may catch it)."""


class Fleet:
    """Customers whose migration writes once, then answers already-migrated; ``broken`` ones fail."""

    def __init__(self, broken: Iterable[str] = (), crash_at: str | None = None) -> None:
        self.broken = set(broken)
        self.crash_at = crash_at
        self.migrated: set[str] = set()
        self.writes: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def migrate(self, name: str) -> StepResult:
        self.calls[name] += 1
        if name == self.crash_at:
            raise Crash(name)
        if name in self.broken:
            raise PermanentError("the cluster update failed", customer=name, step="enable_workload_identity")
        if name in self.migrated:
            return StepResult(step="migrate", customer=name, details={"state": "already-migrated"})
        self.writes[name] += 1
        self.migrated.add(name)
        return StepResult(step="migrate", customer=name, changed=["x"], details={"state": "migrated"})

    def run_wave(self, wave: int, names: list[str]) -> list[Outcome]:
        """Like the flow: the wave's customers at once, outcomes in the wave's order."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda n: migrate_one(n, wave, lambda: self.migrate(n)), names))

    def roll_out(self, canary: list[str], wave_size: int = 3, max_failure_rate: float = 0.2) -> Rollout:
        return roll_out(plan_waves(NAMES, canary, wave_size), self.run_wave, max_failure_rate)


def test_waves_are_the_canary_set_then_the_rest_in_order() -> None:
    assert plan_waves(NAMES, ["c05", "c01"], 4) == [
        ["c05", "c01"],
        ["c02", "c03", "c04", "c06"],
        ["c07", "c08", "c09", "c10"],
    ]
    assert plan_waves(NAMES[:3], [], 2) == [[], ["c01", "c02"], ["c03"]]
    with pytest.raises(InvalidSpecError, match="canary 'c99' not among"):
        plan_waves(NAMES, ["c01", "c99"], 3)
    with pytest.raises(InvalidSpecError, match="wave_size"):
        plan_waves(NAMES, [], 0)


def test_a_failing_canary_stops_the_rollout_before_any_other_customer() -> None:
    fleet = Fleet(broken=["c02"])
    rollout = fleet.roll_out(canary=["c01", "c02"])
    states = {o.customer: o.state for o in rollout.outcomes}
    assert states == {"c01": "migrated", "c02": FAILED, **{n: NOT_STARTED for n in NAMES[2:]}}
    assert set(fleet.calls) == {"c01", "c02"}, "no other customer was even read"
    assert "the canary wave failed for c02" in rollout.stopped
    failed = next(o for o in rollout.outcomes if o.failed)
    assert "the cluster update failed" in failed.error and failed.wave == 0
    assert [o.wave for o in rollout.outcomes if o.state == NOT_STARTED] == [1, 1, 1, 2, 2, 2, 3, 3]


def test_a_wave_at_the_threshold_goes_on_and_one_above_it_stops() -> None:
    # waves: [c01] [c02..c05] [c06..c09] [c10]; 1 of 4 failed is 25% (not above), 2 of 4 is 50% (above)
    fleet = Fleet(broken=["c03", "c07", "c08"])
    rollout = fleet.roll_out(canary=["c01"], wave_size=4, max_failure_rate=0.25)
    assert [(w.wave, w.failed, w.failure_rate) for w in rollout.waves] == [
        (0, 0, 0),
        (1, 1, 0.25),
        (2, 2, 0.5),
    ]
    assert "wave 2 failed for c07, c08: 2 of 4 (50%, more than 25%)" in rollout.stopped
    assert {o.customer for o in rollout.outcomes if o.state == NOT_STARTED} == {"c10"}
    assert "c10" not in fleet.calls
    assert "**Stopped:** wave 2" in summary_markdown(rollout, dry_run=False)


def test_every_wave_runs_when_none_fails_too_often() -> None:
    rollout = Fleet().roll_out(canary=["c10"])
    assert rollout.stopped == "" and rollout.counts() == {"migrated": 10}
    assert [o.customer for o in rollout.outcomes] == ["c10", *NAMES[:9]]
    assert "Every wave ran." in summary_markdown(rollout, dry_run=True)


def test_a_rerun_after_a_crash_redoes_no_finished_customer() -> None:
    fleet = Fleet(crash_at="c06")
    with pytest.raises(Crash):  # the worker dies in wave 2 (c05, c06, c07): waves 0 and 1 had finished
        fleet.roll_out(canary=["c01"], wave_size=3)
    finished = set(fleet.migrated)
    assert {"c01", "c02", "c03", "c04"} <= finished and "c06" not in finished

    fleet.crash_at = None
    rollout = fleet.roll_out(canary=["c01"], wave_size=3)
    states = {o.customer: o.state for o in rollout.outcomes}
    assert {n for n, s in states.items() if s == "already-migrated"} == finished
    assert {n for n, s in states.items() if s == "migrated"} == set(NAMES) - finished
    assert set(fleet.writes.values()) == {1}, "each customer was written in one run only"

    again = fleet.roll_out(canary=["c01"], wave_size=3)
    assert again.counts() == {"already-migrated": 10}
    assert set(fleet.writes.values()) == {1}


def test_a_stopped_rollout_rerun_after_the_fix_goes_on_where_it_stopped() -> None:
    fleet = Fleet(broken=["c02"])
    fleet.roll_out(canary=["c01", "c02"])
    fleet.broken.clear()
    rollout = fleet.roll_out(canary=["c01", "c02"])
    states = {o.customer: o.state for o in rollout.outcomes}
    assert states.pop("c01") == "already-migrated"
    assert set(states.values()) == {"migrated"}
    assert fleet.writes["c01"] == 1
