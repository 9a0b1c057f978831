"""The ARM template expression language: ``"[concat(parameters('a'), '-x')]"`` parsed and evaluated.

Grammar (as ARM accepts it): an expression string is ``[`` expression ``]``; an expression is a string literal
(``'...'`` with ``''`` for a quote), an integer, or a function call ``name(arg, ...)``, each optionally followed
by property accesses ``.name`` and indexes ``[expression]``. There are no operators and no ``true``/``null``
literals (``true()``, ``null()`` are functions). A string starting with ``[[`` and ending with ``]`` is the
literal text without its first bracket.

Everything deployment-specific reaches the functions through a :class:`Scope` the engine provides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .functions import find
from .values import USAGE, Invocation, Scope, TemplateError, arm_type, lookup

__all__ = [
    "Call",
    "Index",
    "Literal",
    "Node",
    "Property",
    "Scope",
    "TemplateError",
    "evaluate",
    "evaluate_node",
    "function_calls",
    "is_expression",
    "parse",
]


@dataclass(frozen=True)
class Literal:
    value: str | int


@dataclass(frozen=True)
class Call:
    """A function call; ``name`` as written (ARM matches names case-insensitively)."""

    name: str
    args: list[Node] = field(default_factory=list)


@dataclass(frozen=True)
class Property:
    target: Node
    name: str


@dataclass(frozen=True)
class Index:
    target: Node
    index: Node


Node = Literal | Call | Property | Index


def is_expression(value: str) -> bool:
    """``[...]`` and not ARM's ``[[`` escape."""
    return len(value) >= 2 and value[0] == "[" and value[-1] == "]" and not value.startswith("[[")


def parse(expression: str) -> Node:
    """Parse the text of a ``[...]`` string (brackets included)."""
    if not is_expression(expression):
        raise TemplateError(
            f"The language expression '{expression}' is not valid: it must start with '[' and end with ']'."
        )
    return _Parser(expression[1:-1]).parse()


def evaluate(value: Any, scope: Scope, *, in_parameter_default: bool = False) -> Any:
    """Evaluate every expression string in ``value`` (dict keys too); ``[[x]`` becomes ``[x]``; the rest as is.

    ``in_parameter_default`` allows ``newGuid()`` and ``utcNow()``, which ARM accepts only in a parameter's
    ``defaultValue``.
    """
    if isinstance(value, str):
        if is_expression(value):
            return evaluate_node(parse(value), scope, in_parameter_default=in_parameter_default)
        if value.startswith("[[") and value.endswith("]"):
            return value[1:]
        return value
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            name = evaluate(key, scope, in_parameter_default=in_parameter_default)
            if not isinstance(name, str):
                raise TemplateError(
                    f"The language expression '{key}' is not valid as a property name: it evaluated to a value of "
                    f"type '{arm_type(name)}'. {USAGE}"
                )
            result[name] = evaluate(item, scope, in_parameter_default=in_parameter_default)
        return result
    if isinstance(value, list):
        return [evaluate(item, scope, in_parameter_default=in_parameter_default) for item in value]
    return value


def evaluate_node(node: Node, scope: Scope, *, in_parameter_default: bool = False) -> Any:
    """Evaluate one parsed expression."""
    return _Evaluator(scope, in_parameter_default).run(node)


def function_calls(value: Any, names: set[str]) -> list[Call]:
    """Every call to one of ``names`` (case-insensitive) in any expression string anywhere in ``value``."""
    wanted = {name.lower() for name in names}
    found: list[Call] = []

    def walk_node(node: Node) -> None:
        if isinstance(node, Call):
            if node.name.lower() in wanted:
                found.append(node)
            for arg in node.args:
                walk_node(arg)
        elif isinstance(node, Property):
            walk_node(node.target)
        elif isinstance(node, Index):
            walk_node(node.target)
            walk_node(node.index)

    def walk(item: Any) -> None:
        if isinstance(item, str):
            if is_expression(item):
                walk_node(parse(item))
        elif isinstance(item, dict):
            for key, sub in item.items():
                walk(key)
                walk(sub)
        elif isinstance(item, list):
            for sub in item:
                walk(sub)

    walk(value)
    return found


class _Evaluator:
    def __init__(self, scope: Scope, in_parameter_default: bool) -> None:
        self.scope = scope
        self.in_parameter_default = in_parameter_default

    def run(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Property):
            return _property(self.run(node.target), node.name)
        return _index(self.run(node.target), self.run(node.index))

    def call(self, node: Call) -> Any:
        function = find(node.name)
        if function is None:
            raise TemplateError(f"The template function '{node.name}' is not valid. {USAGE}")
        invocation = Invocation(node.name, self.scope, self.in_parameter_default, self.run)
        if function.lazy:
            return function.impl(invocation, list(node.args))
        return function.impl(invocation, [self.run(arg) for arg in node.args])


def _property(target: Any, name: str) -> Any:
    if isinstance(target, dict):
        found, value = lookup(target, name)
        if found:
            return value
        available = ", ".join(target)
        raise TemplateError(
            f"The language expression property '{name}' doesn't exist, available properties are '{available}'."
        )
    raise TemplateError(f"The language expression property '{name}' can't be evaluated.")


def _index(target: Any, index: Any) -> Any:
    if isinstance(target, list):
        if isinstance(index, bool) or not isinstance(index, int):
            raise TemplateError(
                f"The language expression array index '{index}' is not valid: an array can only be indexed by an "
                f"integer, not a value of type '{arm_type(index)}'."
            )
        if not 0 <= index < len(target):
            raise TemplateError(f"The language expression property array index '{index}' is out of bounds.")
        return target[index]
    if isinstance(target, dict) and isinstance(index, str):
        return _property(target, index)
    raise TemplateError(f"The language expression property '{index}' can't be evaluated.")


# Tokens, named as ARM's parse errors name them ("expected token 'Identifier' and actual 'EndOfData'").
_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<Integer>-?\d+)|(?P<Identifier>[A-Za-z_$][\w$]*)|(?P<String>'(?:[^']|'')*')"
    r"|(?P<LeftParenthesis>\()|(?P<RightParenthesis>\))|(?P<LeftSquareBracket>\[)|(?P<RightSquareBracket>\])"
    r"|(?P<Comma>,)|(?P<Dot>\.)"
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.i = 0

    def _tokenize(self, text: str) -> list[_Token]:
        tokens: list[_Token] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                # ARM counts from 1 within the text between the brackets: "[\n  {" fails at position '4'.
                raise TemplateError(
                    f"The language expression '{text}' is not valid: the string character '{text[position]}' at "
                    f"position '{position + 1}' is not expected."
                )
            kind = match.lastgroup or ""
            if kind != "ws":
                tokens.append(_Token(kind, match.group(), position))
            position = match.end()
        tokens.append(_Token("EndOfData", "", len(text)))
        return tokens

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self, kind: str) -> _Token:
        token = self.tokens[self.i]
        if token.kind != kind:
            raise TemplateError(
                f"Unable to parse language expression '{self.text}': expected token '{kind}' and actual "
                f"'{token.kind}'."
            )
        self.i += 1
        return token

    def parse(self) -> Node:
        node = self.expression()
        self.take("EndOfData")
        return node

    def expression(self) -> Node:
        token = self.peek()
        node: Node
        if token.kind == "String":
            self.i += 1
            node = Literal(token.text[1:-1].replace("''", "'"))
        elif token.kind == "Integer":
            self.i += 1
            node = Literal(int(token.text))
        else:
            node = self.call()
        while True:
            token = self.peek()
            if token.kind == "Dot":
                self.i += 1
                node = Property(node, self.take("Identifier").text)
            elif token.kind == "LeftSquareBracket":
                self.i += 1
                node = Index(node, self.expression())
                self.take("RightSquareBracket")
            else:
                return node

    def call(self) -> Call:
        name = self.take("Identifier").text
        # A user-defined function is called as namespace.name(...).
        if self.peek().kind == "Dot" and self.tokens[self.i + 1].kind == "Identifier":
            self.i += 1
            name = f"{name}.{self.take('Identifier').text}"
        self.take("LeftParenthesis")
        args: list[Node] = []
        if self.peek().kind != "RightParenthesis":
            args.append(self.expression())
            while self.peek().kind == "Comma":
                self.i += 1
                args.append(self.expression())
        self.take("RightParenthesis")
        return Call(name, args)
