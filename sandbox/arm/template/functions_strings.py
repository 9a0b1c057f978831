"""ARM's string functions (template-functions-string.md), including .NET composite ``format`` and ``utcNow``."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urljoin

from .hashing import deterministic_guid, unique_string
from .values import USAGE, Invocation, TemplateError, deep_equal, to_text

Impl = Callable[[Invocation, list[Any]], Any]
_TEXT = ("String",)
_INT = ("Integer",)


def _strings(call: Invocation, args: list[Any]) -> list[str]:
    return [call.expect(args, i, *_TEXT) for i in range(len(args))]


def base64_(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    return base64.b64encode(call.expect(args, 0, *_TEXT).encode("utf-8")).decode("ascii")


def _b64decode(call: Invocation, value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise call.error(f"the value '{value}' is not a valid base64 string") from exc


def base64_to_string(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    return _b64decode(call, call.expect(args, 0, *_TEXT))


def base64_to_json(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 1)
    return _json(call, _b64decode(call, call.expect(args, 0, *_TEXT)))


def _json(call: Invocation, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise call.error(f"the string '{text}' is not valid JSON") from exc


def json_(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 1)
    return _json(call, call.expect(args, 0, *_TEXT))


def data_uri(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    text = call.expect(args, 0, *_TEXT)
    return "data:text/plain;charset=utf8;base64," + base64.b64encode(text.encode("utf-8")).decode("ascii")


def data_uri_to_string(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    text = call.expect(args, 0, *_TEXT)
    match = re.fullmatch(r"data:([^,]*),(.*)", text, re.DOTALL)
    if match is None:
        raise call.error(f"the value '{text}' is not a valid data URI")
    header, payload = match.groups()
    if header.endswith(";base64"):
        return _b64decode(call, payload)
    return unquote(payload)


def ends_with(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 2)
    text, suffix = _strings(call, args)
    return text.lower().endswith(suffix.lower())


def starts_with(call: Invocation, args: list[Any]) -> bool:
    call.arity(args, 2)
    text, prefix = _strings(call, args)
    return text.lower().startswith(prefix.lower())


def guid(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1, -1)
    return deterministic_guid(*_strings(call, args))


def unique_string_(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1, -1)
    return unique_string(*_strings(call, args))


def _nondeterministic(call: Invocation) -> None:
    if not call.in_parameter_default:
        raise TemplateError(f"The template function '{call.name}' is not expected at this location. {USAGE}")


def new_guid(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 0)
    _nondeterministic(call)
    return str(uuid.uuid4())


def utc_now(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 0, 1)
    _nondeterministic(call)
    pattern = call.expect(args, 0, *_TEXT) if args else "yyyyMMddTHHmmssZ"
    return format_datetime(call, datetime.now(UTC), pattern)


def pad_left(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 2, 3)
    value = call.expect(args, 0, "String", "Integer")
    total = call.expect(args, 1, *_INT)
    pad = call.expect(args, 2, *_TEXT) if len(args) == 3 else " "
    if len(pad) != 1:
        raise call.error(f"the padding character '{pad}' must be a single character")
    return str(value).rjust(total, pad)


def replace(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 3)
    text, old, new = _strings(call, args)
    if not old:
        raise call.error("the string to replace must not be empty")
    return text.replace(old, new)


def split(call: Invocation, args: list[Any]) -> list[str]:
    """.NET ``String.Split(string[], None)``: at each position the first listed delimiter that matches wins."""
    call.arity(args, 2)
    text = call.expect(args, 0, *_TEXT)
    delimiter = call.expect(args, 1, "String", "Array")
    delimiters = [delimiter] if isinstance(delimiter, str) else delimiter
    if not all(isinstance(d, str) for d in delimiters):
        raise call.error("the delimiters must be strings")
    delimiters = [d for d in delimiters if d]
    parts, start, i = [], 0, 0
    while i < len(text):
        hit = next((d for d in delimiters if text.startswith(d, i)), None)
        if hit is None:
            i += 1
            continue
        parts.append(text[start:i])
        i += len(hit)
        start = i
    parts.append(text[start:])
    return parts


def substring(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1, 3)
    text = call.expect(args, 0, *_TEXT)
    start = call.expect(args, 1, *_INT) if len(args) > 1 else 0
    length = call.expect(args, 2, *_INT) if len(args) > 2 else len(text) - start
    if start < 0 or length < 0 or start + length > len(text):
        raise TemplateError(
            "The index and length parameters must refer to a location within the string. The index parameter: "
            f"'{start}', the length parameter: '{length}', the length of the string parameter: '{len(text)}'. "
            f"{USAGE}"
        )
    return text[start : start + length]


def to_lower(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    return str(call.expect(args, 0, *_TEXT)).lower()


def to_upper(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    return str(call.expect(args, 0, *_TEXT)).upper()


def trim(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    return str(call.expect(args, 0, *_TEXT)).strip()


def string(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    return to_text(args[0], call.name)


def uri(call: Invocation, args: list[Any]) -> str:
    """``new Uri(baseUri, relativeUri)``: RFC 3986 reference resolution, as ``urljoin`` does it."""
    call.arity(args, 2)
    base, relative = _strings(call, args)
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", base):
        raise call.error(f"the base URI '{base}' is not an absolute URI")
    return urljoin(base, relative)


def uri_component(call: Invocation, args: list[Any]) -> str:
    """``Uri.EscapeDataString``: everything but RFC 3986 unreserved characters is percent-encoded."""
    call.arity(args, 1)
    return quote(call.expect(args, 0, *_TEXT), safe="")


def uri_component_to_string(call: Invocation, args: list[Any]) -> str:
    call.arity(args, 1)
    return unquote(call.expect(args, 0, *_TEXT))


def index_of(call: Invocation, args: list[Any]) -> int:
    """Strings: case-insensitive position; arrays: position of an equal element."""
    call.arity(args, 2)
    if isinstance(args[0], list):
        return next((i for i, item in enumerate(args[0]) if deep_equal(item, args[1])), -1)
    text, find = _strings(call, args)
    return text.lower().find(find.lower())


def last_index_of(call: Invocation, args: list[Any]) -> int:
    call.arity(args, 2)
    if isinstance(args[0], list):
        hits = [i for i, item in enumerate(args[0]) if deep_equal(item, args[1])]
        return hits[-1] if hits else -1
    text, find = _strings(call, args)
    if not find:  # .NET Framework's LastIndexOf(""): the last index, not the length
        return max(len(text) - 1, 0)
    return text.lower().rfind(find.lower())


def format_(call: Invocation, args: list[Any]) -> str:
    """.NET composite formatting: ``{index[,alignment][:format]}``, ``{{`` and ``}}`` for braces."""
    call.arity(args, 1, -1)
    pattern = args[0]
    if not isinstance(pattern, str):
        raise TemplateError(
            "Unable to evaluate language function 'format': the first argument must be a string literal, and the "
            "type of other arguments must be one of 'Array, Boolean, Date, Float, Guid, Integer, Null, Object, "
            "String, TimeSpan, Undefined, Uri'. Please see https://aka.ms/arm-template-expressions/#format for "
            "usage details."
        )
    values = args[1:]
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "}":
            if pattern.startswith("}}", i):
                out.append("}")
                i += 2
                continue
            raise _format_error("Input string was not in a correct format.")
        if ch != "{":
            out.append(ch)
            i += 1
            continue
        if pattern.startswith("{{", i):
            out.append("{")
            i += 2
            continue
        end = pattern.find("}", i)
        match = (
            re.fullmatch(r"\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?(?::(.*))?", pattern[i + 1 : end])
            if end > 0
            else None
        )
        if match is None:
            raise _format_error("Input string was not in a correct format.")
        index = int(match.group(1))
        if index >= len(values):
            raise _format_error(
                "Index (zero based) must be greater than or equal to zero and less than the size of the argument list."
            )
        text = _format_value(values[index], match.group(3))
        width = int(match.group(2) or 0)
        out.append(text.rjust(width) if width >= 0 else text.ljust(-width))
        i = end + 1
    return "".join(out)


def _format_error(reason: str) -> TemplateError:
    return TemplateError(
        f"Unable to evaluate language function 'format': the format is invalid: '{reason}'. "
        "Please see https://aka.ms/arm-function-format for usage details."
    )


def _format_value(value: Any, spec: str | None) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return "" if value is None else to_text(value, "format")
    if not spec:
        return str(value)
    kind, digits = spec[0], spec[1:]
    sign = "-" if value < 0 else ""
    if re.fullmatch(r"0+", spec):
        return sign + str(abs(value)).rjust(len(spec), "0")
    if not (digits == "" or digits.isdigit()):
        raise _format_error(f"The numeric format '{spec}' is not supported by the sandbox")
    precision = int(digits) if digits else None
    if kind in "Dd":
        return sign + str(abs(value)).rjust(precision or 0, "0")
    if kind in "Nn":
        return f"{value:,.{2 if precision is None else precision}f}"
    if kind in "Ff":
        return f"{value:.{2 if precision is None else precision}f}"
    if kind in "Xx":
        text = format(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value, "X" if kind == "X" else "x")
        return text.rjust(precision or 0, "0")
    if kind in "Gg":
        return str(value)
    raise _format_error(f"The numeric format '{spec}' is not supported by the sandbox")


# .NET standard date and time formats under the invariant culture (ARM formats with it: utcNow('d') gives
# 03/05/2019 in the docs' example).
_STANDARD_DATES = {
    "d": "MM/dd/yyyy",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "o": "yyyy-MM-ddTHH:mm:ss.fffffffZ",
    "O": "yyyy-MM-ddTHH:mm:ss.fffffffZ",
    "s": "yyyy-MM-ddTHH:mm:ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "u": "yyyy-MM-dd HH:mm:ssZ",
}
_DATE_TOKEN = re.compile(
    r"'[^']*'|\"[^\"]*\"|\\.|yyyy|yy|MM|M|dd|d|HH|H|hh|h|mm|m|ss|s|f{1,7}|tt|.", re.DOTALL
)


def format_datetime(call: Invocation, moment: datetime, pattern: str) -> str:
    if len(pattern) == 1:
        if pattern not in _STANDARD_DATES:
            raise call.error(f"the date format '{pattern}' is not supported by the sandbox")
        pattern = _STANDARD_DATES[pattern]
    parts = []
    for token in _DATE_TOKEN.findall(pattern):
        parts.append(_date_part(moment, token))
    return "".join(parts)


def _date_part(moment: datetime, token: str) -> str:
    hour12 = moment.hour % 12 or 12
    fields = {
        "yyyy": f"{moment.year:04d}",
        "yy": f"{moment.year % 100:02d}",
        "MM": f"{moment.month:02d}",
        "M": str(moment.month),
        "dd": f"{moment.day:02d}",
        "d": str(moment.day),
        "HH": f"{moment.hour:02d}",
        "H": str(moment.hour),
        "hh": f"{hour12:02d}",
        "h": str(hour12),
        "mm": f"{moment.minute:02d}",
        "m": str(moment.minute),
        "ss": f"{moment.second:02d}",
        "s": str(moment.second),
        "tt": "AM" if moment.hour < 12 else "PM",
    }
    if token in fields:
        return fields[token]
    if token[0] == "f":
        return f"{moment.microsecond:06d}0"[: len(token)]
    if token[0] in "'\"":
        return token[1:-1]
    if token[0] == "\\":
        return token[1:]
    return token


FUNCTIONS: dict[str, Impl] = {
    "base64": base64_,
    "base64ToJson": base64_to_json,
    "base64ToString": base64_to_string,
    "dataUri": data_uri,
    "dataUriToString": data_uri_to_string,
    "endsWith": ends_with,
    "format": format_,
    "guid": guid,
    "indexOf": index_of,
    "json": json_,
    "lastIndexOf": last_index_of,
    "newGuid": new_guid,
    "padLeft": pad_left,
    "replace": replace,
    "split": split,
    "startsWith": starts_with,
    "string": string,
    "substring": substring,
    "toLower": to_lower,
    "toUpper": to_upper,
    "trim": trim,
    "uniqueString": unique_string_,
    "uri": uri,
    "uriComponent": uri_component,
    "uriComponentToString": uri_component_to_string,
    "utcNow": utc_now,
}
