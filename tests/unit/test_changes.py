"""The change vocabulary: the words results show, and a plan's change as the real run will report it."""

from __future__ import annotations

import json

from onboarding.changes import Change
from onboarding.results import StepResult


def test_a_planned_change_reports_its_applied_form() -> None:
    planned = [c for c in Change if c.planned]
    assert {c: c.applied for c in planned} == {
        Change.WOULD_CREATE: Change.CREATED,
        Change.WOULD_UPDATE: Change.UPDATED,
        Change.WOULD_INSTALL: Change.INSTALLED,
        Change.WOULD_UPGRADE: Change.UPGRADED,
        Change.WOULD_UNINSTALL: Change.UNINSTALLED,
    }
    assert all(c.applied is c for c in Change if not c.planned)


def test_results_show_the_words() -> None:
    result = StepResult(step="s", customer="c", details={"helm": {"action": Change.WOULD_INSTALL}})
    assert f"release: {Change.NOT_OURS}" == "release: not ours"
    assert json.loads(result.model_dump_json())["details"]["helm"]["action"] == "would install"
    assert json.dumps({"action": Change.UNCHANGED}) == '{"action": "unchanged"}'
