"""JSON parsing that remembers where each value starts, so template errors can name ARM's line and column.

ARM reads JSON with Json.NET, which also accepts ``//`` and ``/* */`` comments, single-quoted strings and unquoted
property names (Azure accepts the seed's ``{authorizationAudience: '...'}``); so does this parser. Values are what
``json.loads`` gives for strict JSON (a later duplicate key wins); positions are 1-based ``(line, column)`` of the
value's first character, keyed by the value's path from the root.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any, NoReturn

Path = tuple[str | int, ...]

_WS = " \t\r\n\ufeff"
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_LITERALS = {"true": True, "false": False, "null": None}


def loads_with_positions(text: str) -> tuple[Any, dict[Path, tuple[int, int]]]:
    """Parse JSON as Json.NET does and return the value and each value's (line, column) by path."""
    parser = _Parser(text)
    value = parser.value(())
    parser.skip()
    if parser.i != len(text):
        parser.fail("Additional text encountered after finished reading JSON content")
    return value, parser.positions


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.positions: dict[Path, tuple[int, int]] = {}
        self._line_starts = [0] + [n + 1 for n, ch in enumerate(text) if ch == "\n"]

    def where(self, index: int) -> tuple[int, int]:
        line = bisect_right(self._line_starts, index)
        return line, index - self._line_starts[line - 1] + 1

    def fail(self, message: str, index: int | None = None) -> NoReturn:
        line, column = self.where(self.i if index is None else index)
        raise ValueError(f"{message}. Line {line}, position {column}.")

    def skip(self) -> None:
        """Skip whitespace and comments."""
        text, n = self.text, len(self.text)
        while self.i < n:
            ch = text[self.i]
            if ch in _WS:
                self.i += 1
            elif text.startswith("//", self.i):
                end = text.find("\n", self.i)
                self.i = n if end < 0 else end + 1
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                if end < 0:
                    self.fail("Unexpected end while parsing comment")
                self.i = end + 2
            else:
                return

    def value(self, path: Path) -> Any:
        self.skip()
        if self.i >= len(self.text):
            self.fail("Unexpected end when reading JSON")
        self.positions[path] = self.where(self.i)
        ch = self.text[self.i]
        if ch == "{":
            return self.object(path)
        if ch == "[":
            return self.array(path)
        if ch in "\"'":
            return self.string()
        if ch == "-" or ch.isdigit():
            return self.number()
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return literal
        self.fail(f"Unexpected character encountered while parsing value: {ch}")

    def object(self, path: Path) -> dict[str, Any]:
        self.i += 1
        result: dict[str, Any] = {}
        self.skip()
        if self.text.startswith("}", self.i):
            self.i += 1
            return result
        while True:
            self.skip()
            key = self.property_name()
            self.skip()
            if not self.text.startswith(":", self.i):
                self.fail(f"Invalid character after parsing property name. Expected ':' after '{key}'")
            self.i += 1
            result[key] = self.value((*path, key))
            self.skip()
            if self.text.startswith(",", self.i):
                self.i += 1
                continue
            if self.text.startswith("}", self.i):
                self.i += 1
                return result
            self.fail("After parsing a value an unexpected character was encountered")

    def array(self, path: Path) -> list[Any]:
        self.i += 1
        result: list[Any] = []
        self.skip()
        if self.text.startswith("]", self.i):
            self.i += 1
            return result
        while True:
            result.append(self.value((*path, len(result))))
            self.skip()
            if self.text.startswith(",", self.i):
                self.i += 1
                continue
            if self.text.startswith("]", self.i):
                self.i += 1
                return result
            self.fail("After parsing a value an unexpected character was encountered")

    def property_name(self) -> str:
        if self.text[self.i : self.i + 1] in ('"', "'"):
            return self.string()
        match = _NAME.match(self.text, self.i)
        if match is None:
            self.fail("Invalid property identifier character")
        self.i = match.end()
        return match.group()

    def string(self) -> str:
        start = self.i
        quote = self.text[start]
        self.i += 1
        out: list[str] = []
        text, n = self.text, len(self.text)
        while True:
            if self.i >= n:
                self.fail(f"Unterminated string. Expected delimiter: {quote}", start)
            ch = text[self.i]
            if ch == quote:
                self.i += 1
                return "".join(out)
            if ch == "\\":
                esc = text[self.i + 1 : self.i + 2]
                if esc == "u":
                    digits = text[self.i + 2 : self.i + 6]
                    if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                        self.fail("Invalid Unicode escape sequence")
                    out.append(chr(int(digits, 16)))
                    self.i += 6
                    if len(out) > 1 and "\ud800" <= out[-2] <= "\udbff" and "\udc00" <= out[-1] <= "\udfff":
                        pair = out.pop(-2) + out.pop()
                        out.append(pair.encode("utf-16-le", "surrogatepass").decode("utf-16-le"))
                elif esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                    self.i += 2
                else:
                    self.fail(f"Bad JSON escape sequence: \\{esc}")
            elif ch < " ":
                self.fail("Invalid control character in string")
            else:
                out.append(ch)
                self.i += 1

    def number(self) -> int | float:
        text, start = self.text, self.i
        j = start + 1 if text[start] == "-" else start
        while j < len(text) and text[j].isdigit():
            j += 1
        is_float = False
        if j < len(text) and text[j] == ".":
            is_float = True
            j += 1
            while j < len(text) and text[j].isdigit():
                j += 1
        if j < len(text) and text[j] in "eE":
            is_float = True
            j += 1
            if j < len(text) and text[j] in "+-":
                j += 1
            while j < len(text) and text[j].isdigit():
                j += 1
        literal = text[start:j]
        try:
            value: int | float = float(literal) if is_float else int(literal)
        except ValueError:
            self.fail(f"Input string '{literal}' is not a valid number", start)
        self.i = j
        return value
