"""Event subscription filters as Event Grid applies them to an event (Event Grid schema form).

MicrosoftDocs/azure-docs articles/event-grid/event-filtering.md: included event types, subject begins/ends with
(case-insensitive unless ``isSubjectCaseSensitive``), advanced filters ANDed with each other, the values of one
filter ORed; string comparisons of advanced filters are case-insensitive; a key is a dotted path into the event
(``data.operationName``, ``subject``, ``eventType``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING = object()

_OTHER_OPERATORS = {"IsNullOrUndefined", "IsNotNull", "BoolEquals", "NumberIn", "NumberNotIn"}
_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "In": lambda have, want: have == want,
    "BeginsWith": lambda have, want: have.startswith(want),
    "EndsWith": lambda have, want: have.endswith(want),
    "Contains": lambda have, want: want in have,
}


def _lookup(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return _MISSING
        found = next((v for k, v in value.items() if k.lower() == part.lower()), _MISSING)
        if found is _MISSING:
            return _MISSING
        value = found
    return value


def _string_filter(operator: str, value: Any, wanted: list[Any]) -> bool:
    negated = operator.startswith("StringNot")
    test = _STRING_TESTS[operator.removeprefix("StringNot").removeprefix("String")]
    if value is _MISSING or value is None:
        return negated
    have = str(value).lower()
    hit = any(test(have, str(w).lower()) for w in wanted)
    return not hit if negated else hit


def _advanced(rule: dict[str, Any], event: dict[str, Any]) -> bool:
    operator = str(rule.get("operatorType") or "")
    value = _lookup(event, str(rule.get("key") or ""))
    wanted = list(rule.get("values") or [])
    if operator.startswith("String"):
        return _string_filter(operator, value, wanted)
    if operator == "IsNullOrUndefined":
        return value is _MISSING or value is None
    if operator == "IsNotNull":
        return value is not _MISSING and value is not None
    if operator == "BoolEquals":
        return value is rule.get("value")
    if operator in ("NumberIn", "NumberNotIn"):
        hit = isinstance(value, int | float) and value in wanted
        return hit if operator == "NumberIn" else not hit
    return False


def matches(event_filter: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether ``event`` passes the subscription's ``filter``."""
    included = {t.lower() for t in event_filter.get("includedEventTypes") or []}
    if included and "all" not in included and event["eventType"].lower() not in included:
        return False
    subject = str(event.get("subject") or "")
    begins = str(event_filter.get("subjectBeginsWith") or "")
    ends = str(event_filter.get("subjectEndsWith") or "")
    if not event_filter.get("isSubjectCaseSensitive"):
        subject, begins, ends = subject.lower(), begins.lower(), ends.lower()
    if not subject.startswith(begins) or not subject.endswith(ends):
        return False
    return all(_advanced(rule, event) for rule in event_filter.get("advancedFilters") or [])


def validate(event_filter: dict[str, Any]) -> None:
    """Raise ValueError for an advanced filter the sandbox cannot evaluate."""
    for rule in event_filter.get("advancedFilters") or []:
        operator = str(rule.get("operatorType") or "")
        stem = operator.removeprefix("StringNot").removeprefix("String")
        if not (operator.startswith("String") and stem in _STRING_TESTS) and operator not in _OTHER_OPERATORS:
            raise ValueError(f"advanced filter operator {operator!r} is not served by the sandbox")
