"""Per-run overrides of a catalog entry: a partial spec deep-merged into the customer's catalog entry for one run
only, then validated as a whole CustomerSpec. The catalog stays the truth; a run's deviation from it is explicit
(the run's parameters) and reported ("this run overrides: ...")."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from .errors import InvalidSpecError
from .models import CustomerSpec


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it: mappings merge key by key, anything else (lists included) replaces;
    ``None`` puts a field back to its default."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_overrides(spec: CustomerSpec, overrides: dict[str, Any] | None) -> CustomerSpec:
    """The catalog entry with this run's overrides; errors name each field as ``customer.<path>`` and the
    customer."""
    if not overrides:
        return spec
    if "name" in overrides and overrides["name"] != spec.name:
        raise InvalidSpecError(
            "field customer.name: a run cannot rename the customer",
            customer=spec.name,
            hint="run the other customer's deployment instead",
        )
    try:
        return CustomerSpec.model_validate(deep_merge(spec.model_dump(mode="json"), overrides))
    except ValidationError as exc:
        problems = "; ".join(
            f"field customer.{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise InvalidSpecError(
            f"this run's overrides make an invalid spec: {problems}",
            customer=spec.name,
            hint="fix the overrides (the catalog entry itself is valid)",
        ) from None


def describe(overrides: dict[str, Any]) -> str:
    """``a.b=value`` for every overridden leaf, for the run's log."""
    leaves: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        else:
            leaves.append(f"{prefix}={json.dumps(value)}")

    walk("", overrides)
    return ", ".join(leaves)
