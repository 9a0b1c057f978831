"""ARM template values (JSON: string, 64-bit int, bool, array, object, null), their errors and comparisons.

Shared by the expression evaluator and the function modules, so that both answer with ARM's wording.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
USAGE = "Please see https://aka.ms/arm-functions for usage details."


class TemplateError(Exception):
    """An invalid template expression or function use. ``code`` is ARM's error code ("InvalidTemplate")."""

    def __init__(self, message: str, code: str = "InvalidTemplate") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Scope(Protocol):
    """What an expression needs from its deployment; the engine implements it."""

    def parameter(self, name: str) -> Any: ...
    def variable(self, name: str) -> Any: ...
    def resource_group(self) -> dict[str, Any]: ...
    def subscription(self) -> dict[str, Any]: ...
    def tenant(self) -> dict[str, Any]: ...
    def deployment(self) -> dict[str, Any]: ...
    def environment(self) -> dict[str, Any]: ...
    def reference(self, resource: str, api_version: str | None, full: bool) -> Any: ...
    def list_action(self, resource_id: str, api_version: str, action: str, body: Any) -> Any: ...
    def copy_index(self, loop: str | None, offset: int) -> int: ...


@dataclass(frozen=True)
class Invocation:
    """One function call being evaluated: its name as written, the deployment, and a way to evaluate nodes."""

    name: str
    scope: Scope
    in_parameter_default: bool
    evaluate: Callable[[Any], Any]

    def error(self, detail: str) -> TemplateError:
        return TemplateError(
            f"Unable to evaluate template language function '{self.name}': {detail}. {USAGE}"
        )

    def arity(self, args: list[Any], low: int, high: int | None = None) -> None:
        """ARM's argument count check; ``high=None`` means exactly ``low``, ``-1`` means no upper bound."""
        top = low if high is None else high
        if len(args) >= low and (top < 0 or len(args) <= top):
            return
        if top < 0:
            wanted = f"at least {low}"
        elif top == low:
            wanted = str(low)
        else:
            wanted = f"{low} to {top}"
        raise self.error(f"function requires {wanted} argument(s) while {len(args)} were provided")

    def expect(self, args: list[Any], index: int, *types: str) -> Any:
        """The argument at ``index`` if its ARM type is one of ``types``; ARM's type error otherwise."""
        value = args[index]
        if arm_type(value) in types:
            return value
        wanted = (
            f"of type '{types[0]}'" if len(types) == 1 else f"one of the following types '{', '.join(types)}'"
        )
        raise TemplateError(
            f"The template language function '{self.name}' expects its {_ORDINALS[min(index, 9)]} parameter to be "
            f"{wanted}. The provided value is of type '{arm_type(value)}'. {USAGE}"
        )


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def arm_type(value: Any) -> str:
    """ARM's name for a value's type, as its error messages print it."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    return type(value).__name__


def checked_int(value: int, name: str) -> int:
    """ARM integers are 64-bit; a result outside that range is an error rather than a silent big number."""
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise TemplateError(
        f"Unable to evaluate template language function '{name}': the result '{value}' is outside the range "
        f"of a 64-bit integer. {USAGE}"
    )


def deep_equal(a: Any, b: Any) -> bool:
    """JSON equality: types must match (``true`` is not ``1``), strings compare exactly, key order is ignored."""
    if arm_type(a) != arm_type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def lookup(obj: dict[str, Any], name: str) -> tuple[bool, Any]:
    """Property lookup as ARM does it: exact name first, then case-insensitively."""
    if name in obj:
        return True, obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return True, value
    return False, None


def to_text(value: Any, name: str = "string") -> str:
    """``string()``'s conversion: strings as is, booleans as .NET prints them, other values as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        raise TemplateError(
            f"The template language function '{name}' expects its first parameter to be one of the following "
            f"types 'String, Integer, Boolean, Array, Object'. The provided value is of type 'Null'. {USAGE}"
        )
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
