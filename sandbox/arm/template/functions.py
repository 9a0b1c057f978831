"""The function table of the expression language, and ARM's logical, comparison, array, object and numeric functions.

String functions live in :mod:`.functions_strings`, deployment and resource functions in
:mod:`.functions_resources`. Names are matched case-insensitively, as ARM does; any ``list*`` name that is not
another function is a resource list action (``listKeys``, ``listCredentials``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import functions_resources, functions_strings
from .values import USAGE, Invocation, TemplateError, arm_type, checked_int, deep_equal, lookup, to_text

Impl = Callable[[Invocation, list[Any]], Any]
_INT = ("Integer",)


@dataclass(frozen=True)
class Function:
    name: str
    impl: Impl
    lazy: bool = False  # receives the argument nodes unevaluated (``if``)


def _booleans(call: Invocation, values: list[Any]) -> list[bool]:
    if not all(isinstance(v, bool) for v in values):
        raise TemplateError(
            f"The provided arguments for template language function '{call.name}' is not valid: all arguments "
            f"should be of type 'boolean'. {USAGE}"
        )
    return values


# Logical


def and_(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 2, -1)
    return all(_booleans(call, args))


def or_(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 2, -1)
    return any(_booleans(call, args))


def not_(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 1)
    return not _booleans(call, args)[0]


def if_(call: Invocation, nodes: list[Any]) -> Any:
    """Only the chosen branch is evaluated (template-functions-logical.md, ``if``: Remarks)."""
    call.arity(nodes, 3)
    (condition,) = _booleans(call, [call.evaluate(nodes[0])])
    return call.evaluate(nodes[1] if condition else nodes[2])


def bool_(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 1)
    value = call.expect(args, 0, "Boolean", "Integer", "String")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise call.error(f"the value '{value}' is not a valid boolean")


def true_(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 0)
    return True


def false_(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 0)
    return False


# Comparison


def equals(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 2)
    return deep_equal(args[0], args[1])


def _order(call: Invocation, args: list[Any]) -> int:
    """-1, 0, 1 for two integers or two strings; strings as .NET's culture-aware comparison orders them."""
    call.arity(args, 2)
    a, b = (call.expect(args, i, "Integer", "String") for i in (0, 1))
    if arm_type(a) != arm_type(b):
        raise call.error(f"the values of type '{arm_type(a)}' and '{arm_type(b)}' can't be compared")
    if isinstance(a, int):
        return (a > b) - (a < b)
    return _compare_text(a, b)


def _compare_text(a: str, b: str) -> int:
    """Case-insensitive first; of two strings differing only in case, the lowercase one sorts first.

    ARM compares strings with culture rules, not ordinally: ``greater('A', 'a')`` is true
    (azure-docs-json-samples, azure-resource-manager/functions/comparison/greater.json, and its documented output).
    """
    fa, fb = a.casefold(), b.casefold()
    if fa != fb:
        return (fa > fb) - (fa < fb)
    for x, y in zip(a, b, strict=False):
        if x != y:
            return -1 if x.islower() else 1
    return (len(a) > len(b)) - (len(a) < len(b))


def less(call: Invocation, args: list[Any]) -> bool:
    return _order(call, args) < 0


def less_or_equals(call: Invocation, args: list[Any]) -> bool:
    return _order(call, args) <= 0


def greater(call: Invocation, args: list[Any]) -> bool:
    return _order(call, args) > 0


def greater_or_equals(call: Invocation, args: list[Any]) -> bool:
    return _order(call, args) >= 0


def coalesce(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 1, -1)
    return next((value for value in args if value is not None), None)


# Arrays and objects


def array(call: Invocation, args: list[Any]) -> list[Any]:
    call.arity(args, 1)
    return args[0] if isinstance(args[0], list) else [args[0]]


def concat(call: Invocation, args: list[Any]) -> str | list[Any]:
    """Arrays joined if the arguments are arrays; otherwise strings (and integers) joined."""
    call.arity(args, 1, -1)
    arrays = [isinstance(value, list) for value in args]
    if any(arrays):
        if not all(arrays):
            raise TemplateError(
                f"The provided parameters for language function '{call.name}' are invalid. Either all or none of "
                f"the parameters must be an array. {USAGE}"
            )
        return [item for value in args for item in value]
    return "".join(str(call.expect(args, i, "String", "Integer")) for i in range(len(args)))


def contains(call: Invocation, args: list[Any]) -> bool:
    """Strings: case-sensitive substring; objects: key, case-insensitively; arrays: an equal element."""
    call.arity(args, 2)
    container = call.expect(args, 0, "String", "Array", "Object")
    item = args[1]
    if isinstance(container, list):
        return any(deep_equal(element, item) for element in container)
    if isinstance(container, dict):
        return lookup(container, to_text(item, call.name))[0]
    return to_text(item, call.name) in container


def create_array(call: Invocation, args: list[Any]) -> list[Any]:
    return list(args)


def create_object(call: Invocation, args: list[Any]) -> dict[str, Any]:
    if len(args) % 2:
        raise call.error("the function only accepts an even number of parameters")
    return {call.expect(args, i, "String"): args[i + 1] for i in range(0, len(args), 2)}


def empty(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 1)
    if args[0] is None:
        return True
    return len(call.expect(args, 0, "String", "Array", "Object")) == 0


def first(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 1)
    value = call.expect(args, 0, "String", "Array")
    if isinstance(value, str):
        return value[:1]
    return value[0] if value else None


def last(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 1)
    value = call.expect(args, 0, "String", "Array")
    if isinstance(value, str):
        return value[-1:]
    return value[-1] if value else None


def length(call: Invocation, args: list[Any]) -> int:
    call.arity(args, 1)
    return len(call.expect(args, 0, "String", "Array", "Object"))


def _all_of(call: Invocation, args: list[Any]) -> str:
    kinds = {arm_type(value) for value in args}
    if len(kinds) != 1 or not kinds <= {"Array", "Object"}:
        raise call.error("all arguments must be arrays or all arguments must be objects")
    return kinds.pop()


def intersection(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 2, -1)
    if _all_of(call, args) == "Array":
        result: list[Any] = []
        for item in args[0]:
            shared = all(any(deep_equal(item, other) for other in rest) for rest in args[1:])
            if shared and not any(deep_equal(item, kept) for kept in result):
                result.append(item)
        return result
    return {
        key: value
        for key, value in args[0].items()
        if all(key in other and deep_equal(value, other[key]) for other in args[1:])
    }


def union(call: Invocation, args: list[Any]) -> Any:
    """Arrays: distinct elements in order. Objects: later values win; nested objects are merged, arrays replaced
    (template-functions-object.md, ``union``)."""
    call.arity(args, 2, -1)
    if _all_of(call, args) == "Array":
        result: list[Any] = []
        for value in args:
            for item in value:
                if not any(deep_equal(item, kept) for kept in result):
                    result.append(item)
        return result
    merged: dict[str, Any] = {}
    for value in args:
        merged = _merge(merged, value)
    return merged


def _merge(into: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    result = dict(into)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def items(call: Invocation, args: list[Any]) -> list[dict[str, Any]]:
    """The object as ``[{key, value}]``, sorted by key (template-functions-object.md, ``items``)."""
    call.arity(args, 1)
    value = call.expect(args, 0, "Object")
    return [{"key": key, "value": value[key]} for key in sorted(value)]


def join(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 2)
    values = call.expect(args, 0, "Array")
    delimiter = call.expect(args, 1, "String")
    if not all(isinstance(v, str) for v in values):
        raise call.error("the first parameter must be an array of strings")
    return delimiter.join(values)


def null(call: Invocation, args: list[Any]) -> None:
    call.arity(args, 0)
    return None


def skip(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 2)
    value = call.expect(args, 0, "Array", "String")
    count = call.expect(args, 1, *_INT)
    return value[max(count, 0) :]


def take(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 2)
    value = call.expect(args, 0, "Array", "String")
    count = call.expect(args, 1, *_INT)
    return value[: max(count, 0)]


def try_get(call: Invocation, args: list[Any]) -> Any:
    """``tryGet(value, keyOrIndex, ...)``: null where a key or index is missing, instead of an error."""
    call.arity(args, 2, -1)
    current = args[0]
    for key in args[1:]:
        if isinstance(current, dict) and isinstance(key, str):
            found, current = lookup(current, key)
            if not found:
                return None
        elif isinstance(current, list) and isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < len(current):
                return None
            current = current[key]
        else:
            return None
    return current


# Numbers


def _operands(call: Invocation, args: list[Any]) -> tuple[int, int]:
    call.arity(args, 2)
    return call.expect(args, 0, *_INT), call.expect(args, 1, *_INT)


def add(call: Invocation, args: list[Any]) -> int:
    a, b = _operands(call, args)
    return checked_int(a + b, call.name)


def sub(call: Invocation, args: list[Any]) -> int:
    a, b = _operands(call, args)
    return checked_int(a - b, call.name)


def mul(call: Invocation, args: list[Any]) -> int:
    a, b = _operands(call, args)
    return checked_int(a * b, call.name)


def _truncated(call: Invocation, a: int, b: int) -> int:
    """.NET integer division: the quotient truncated toward zero."""
    if b == 0:
        raise call.error("attempted to divide by zero")
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def div(call: Invocation, args: list[Any]) -> int:
    a, b = _operands(call, args)
    return checked_int(_truncated(call, a, b), call.name)


def mod(call: Invocation, args: list[Any]) -> int:
    """.NET remainder: takes the sign of the dividend."""
    a, b = _operands(call, args)
    return a - b * _truncated(call, a, b)


def int_(call: Invocation, args: list[Any]) -> int:
    call.arity(args, 1)
    value = call.expect(args, 0, "Integer", "String")
    if isinstance(value, int):
        return value
    if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
        raise call.error(f"the value '{value}' is not a valid integer")
    return checked_int(int(value), call.name)


def float_(call: Invocation, args: list[Any]) -> float:
    call.arity(args, 1)
    value = call.expect(args, 0, "Integer", "String", "Float")
    try:
        return float(value)
    except ValueError as exc:
        raise call.error(f"the value '{value}' is not a valid number") from exc


def _integers(call: Invocation, args: list[Any]) -> list[int]:
    call.arity(args, 1, -1)
    numbers: list[int] = []
    for i in range(len(args)):
        value = call.expect(args, i, "Integer", "Array")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool) or not isinstance(item, int):
                raise call.error("all values must be integers or arrays of integers")
            numbers.append(item)
    if not numbers:
        raise call.error("at least one integer is required")
    return numbers


def min_(call: Invocation, args: list[Any]) -> int:
    return min(_integers(call, args))


def max_(call: Invocation, args: list[Any]) -> int:
    return max(_integers(call, args))


def range_(call: Invocation, args: list[Any]) -> list[int]:
    """``range(startIndex, count)``; count at most 10000, startIndex + count at most 2147483647."""
    start, count = _operands(call, args)
    if not 0 <= count <= 10000:
        raise call.error(f"the count '{count}' must be between 0 and 10000")
    if start + count > 2147483647:
        raise call.error("the sum of startIndex and count must be no greater than 2147483647")
    return list(range(start, start + count))


_TABLE: dict[str, Impl] = {
    "add": add,
    "and": and_,
    "array": array,
    "bool": bool_,
    "coalesce": coalesce,
    "concat": concat,
    "contains": contains,
    "createArray": create_array,
    "createObject": create_object,
    "div": div,
    "empty": empty,
    "equals": equals,
    "false": false_,
    "first": first,
    "float": float_,
    "greater": greater,
    "greaterOrEquals": greater_or_equals,
    "int": int_,
    "intersection": intersection,
    "items": items,
    "join": join,
    "last": last,
    "length": length,
    "less": less,
    "lessOrEquals": less_or_equals,
    "max": max_,
    "min": min_,
    "mod": mod,
    "mul": mul,
    "not": not_,
    "null": null,
    "or": or_,
    "range": range_,
    "skip": skip,
    "sub": sub,
    "take": take,
    "true": true_,
    "tryGet": try_get,
    "union": union,
    **functions_strings.FUNCTIONS,
    **functions_resources.FUNCTIONS,
}

FUNCTIONS: dict[str, Function] = {name.lower(): Function(name, impl) for name, impl in _TABLE.items()}
FUNCTIONS["if"] = Function("if", if_, lazy=True)
_LIST = Function("list*", functions_resources.list_action)


def find(name: str) -> Function | None:
    """The function a call names, or ``None`` (ARM: "The template function '...' is not valid")."""
    lowered = name.lower()
    function = FUNCTIONS.get(lowered)
    if function is None and lowered.startswith("list") and "." not in lowered:
        return _LIST
    return function
