"""Request bodies read as ARM reads them: with Json.NET's ``JsonTextReader`` (Newtonsoft), which is laxer than JSON.

What it accepts beyond RFC 8259 (JamesNK/Newtonsoft.Json ``Src/Newtonsoft.Json/JsonTextReader.cs``: ``ParseProperty``,
``ParseUnquotedProperty``, ``ParseValue``, ``ParsePostValue``, ``ParseObject``):
- property names in double quotes, single quotes, or unquoted (letters, digits, ``_`` and ``$``), ending at
  whitespace or ``:``; strings in double or single quotes;
- ``//`` and ``/* */`` comments wherever whitespace may be;
- a trailing comma before ``}`` or ``]``; an empty array element (``[1,,2]``) reads as ``undefined``;
- ``undefined`` (read here as null), ``NaN``, ``Infinity``, ``-Infinity``, hexadecimal (``0x1F``) and octal
  (``017``) integers.
Everything else fails with Json.NET's message, which ARM wraps as 400 ``InvalidRequestContent`` "The request
content was invalid and could not be deserialized: '<message> Path '<path>', line <n>, position <n>.'." (ARM's
wording, quoted in MicrosoftDocs/azure-docs "Quickstart: Troubleshoot ARM template deployments"; an unquoted
``ICMPv6`` met "Error parsing Infinity value. Path 'properties.protocol', line 4, position 15.", a Json.NET
message, in a script found by the code search). Line and position are counted as here, not byte for byte as
Json.NET does. Not supported (deliberately): Json.NET's ``new Date(...)`` constructors; no client sends them to
these APIs.
"""

from __future__ import annotations

from typing import Any

_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBER_CHARS = set("+-.0123456789abcdefABCDEFxX")
_END_OF_NUMBER = set(",}])/")
_WORDS: dict[str, tuple[str, Any, str]] = {
    "t": ("true", True, "Error parsing boolean value."),
    "f": ("false", False, "Error parsing boolean value."),
    "u": ("undefined", None, "Error parsing undefined value."),
}


class JsonNetError(ValueError):
    """A Json.NET reader error: its message already ends with ``Path '...', line n, position n.``"""


def _identifier_char(c: str) -> bool:
    return c.isalnum() or c in "_$"


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.path: list[str | int] = []

    def fail(self, message: str) -> JsonNetError:
        line = self.text.count("\n", 0, self.pos) + 1
        position = self.pos - (self.text.rfind("\n", 0, self.pos) + 1)
        return JsonNetError(f"{message} Path '{self._path()}', line {line}, position {position}.")

    def _path(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_blank(self) -> None:
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c.isspace():
                self.pos += 1
            elif c == "/":
                self._comment()
            else:
                return

    def _comment(self) -> None:
        nxt = self.text[self.pos + 1 : self.pos + 2]
        if nxt == "/":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end
        elif nxt == "*":
            end = self.text.find("*/", self.pos + 2)
            if end < 0:
                self.pos = len(self.text)
                raise self.fail("Unexpected end while parsing comment.")
            self.pos = end + 2
        else:
            raise self.fail(f"Error parsing comment. Expected: *, got {nxt or 'end'}.")

    def value(self) -> Any:
        self.skip_blank()
        c = self.peek()
        if c == "":
            raise self.fail("Unexpected end when reading JSON.")
        if c in "\"'":
            return self.string(c)
        if c == "{":
            return self.obj()
        if c == "[":
            return self.array()
        if c in _WORDS:
            word, result, error = _WORDS[c]
            return self._word(word, result, error)
        if self.text.startswith("nu", self.pos):
            return self._word("null", None, "Error parsing null value.")
        if c == "N":
            return self._word("NaN", float("nan"), "Error parsing NaN value.")
        if c == "I":
            return self._word("Infinity", float("inf"), "Error parsing Infinity value.")
        if self.text.startswith("-I", self.pos):
            return self._word("-Infinity", float("-inf"), "Error parsing -Infinity value.")
        if c == "-" or c.isdigit():
            return self.number()
        raise self.fail(f"Unexpected character encountered while parsing value: {c}.")

    def _word(self, word: str, result: Any, error: str) -> Any:
        if not self.text.startswith(word, self.pos):
            raise self.fail(error)
        self.pos += len(word)
        return result

    def number(self) -> int | float:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _NUMBER_CHARS:
            self.pos += 1
        nxt = self.peek()
        if nxt and not nxt.isspace() and nxt not in _END_OF_NUMBER:
            raise self.fail(f"Unexpected character encountered while parsing number: {nxt}.")
        raw = self.text[start : self.pos]
        sign, digits = (-1, raw[1:]) if raw.startswith("-") else (1, raw)
        try:
            if digits[:2].lower() == "0x":
                return sign * int(digits[2:], 16)
            if len(digits) > 1 and digits[0] == "0" and digits.isdigit():
                return sign * int(digits, 8)
            if digits.isdigit():
                return sign * int(digits)
            return float(raw)
        except ValueError:
            raise self.fail(f"Input string '{raw}' is not a valid number.") from None

    def string(self, quote: str) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.fail(f"Unterminated string. Expected delimiter: {quote}.")
            c = self.text[self.pos]
            self.pos += 1
            if c == quote:
                return "".join(out)
            if c != "\\":
                out.append(c)
                continue
            esc = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if esc == "u":
                hex_digits = self.text[self.pos : self.pos + 4]
                if len(hex_digits) < 4 or any(h not in "0123456789abcdefABCDEF" for h in hex_digits):
                    raise self.fail("Unexpected end while parsing unicode character.")
                out.append(chr(int(hex_digits, 16)))
                self.pos += 4
            elif esc in _ESCAPES:
                out.append(_ESCAPES[esc])
            else:
                raise self.fail(f"Bad JSON escape sequence: \\{esc}.")

    def name(self) -> str:
        c = self.peek()
        if c in "\"'":
            name = self.string(c)
        elif c and _identifier_char(c):
            start = self.pos
            while self.pos < len(self.text) and _identifier_char(self.text[self.pos]):
                self.pos += 1
            nxt = self.peek()
            if nxt == "":
                raise self.fail("Unexpected end while parsing unquoted property name.")
            if not (nxt.isspace() or nxt == ":"):
                raise self.fail(f"Invalid JavaScript property identifier character: {nxt}.")
            name = self.text[start : self.pos]
        else:
            raise self.fail(f"Invalid property identifier character: {c or 'end'}.")
        self.skip_blank()
        if self.peek() != ":":
            raise self.fail(
                f"Invalid character after parsing property name. Expected ':' but got: {self.peek()}."
            )
        self.pos += 1
        return name

    def _after_value(self, close: str) -> bool:
        """After a member or element: True when the container ends, False after a comma."""
        self.skip_blank()
        c = self.peek()
        if c == close:
            self.pos += 1
            return True
        if c == ",":
            self.pos += 1
            return False
        if c == "":
            raise self.fail("Unexpected end when reading JSON.")
        raise self.fail(f"After parsing a value an unexpected character was encountered: {c}.")

    def obj(self) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        while True:
            self.skip_blank()
            if self.peek() == "}":  # empty object, or a trailing comma
                self.pos += 1
                return result
            key = self.name()
            self.path.append(key)
            result[key] = self.value()
            ended = self._after_value("}")
            self.path.pop()
            if ended:
                return result

    def array(self) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        while True:
            self.skip_blank()
            if self.peek() == "]":  # empty array, or a trailing comma
                self.pos += 1
                return result
            self.path.append(len(result))
            result.append(None if self.peek() == "," else self.value())  # ``[1,,2]``: undefined
            ended = self._after_value("]")
            self.path.pop()
            if ended:
                return result


def loads(text: str) -> Any:
    """Parse ``text`` as Json.NET's reader does, rejecting content after the value; raises JsonNetError."""
    reader = _Reader(text)
    result = reader.value()
    reader.skip_blank()
    if reader.pos < len(reader.text):
        raise reader.fail(
            f"Additional text encountered after finished reading JSON content: {reader.peek()}."
        )
    return result
