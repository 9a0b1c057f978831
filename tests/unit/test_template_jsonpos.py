"""Template JSON is read as ARM reads it (comments allowed) and every value knows its line and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.arm.template.jsonpos import loads_with_positions

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [
    ROOT / "templates" / "mainTemplate.json",
    ROOT / "templates" / "roleAssignment.json",
    ROOT.parent / "shared" / "seed" / "ama-aks" / "mainTemplate.json",
    ROOT.parent / "shared" / "seed" / "managedIdentityRoleAssignment.json",
]


@pytest.mark.parametrize("path", [p for p in TEMPLATES if p.exists()], ids=lambda p: p.name)
def test_values_are_what_json_loads_gives(path: Path) -> None:
    text = path.read_text()
    value, positions = loads_with_positions(text)
    assert value == json.loads(text)
    assert positions[()] == (1, 1)


def test_each_value_has_the_line_and_column_of_its_first_character() -> None:
    text = '{\n  "resources": [\n    {"name": "[concat(\'a\')]", "n": -12.5e1},\n    true\n  ]\n}'
    value, positions = loads_with_positions(text)
    assert value == {"resources": [{"name": "[concat('a')]", "n": -125.0}, True]}
    assert positions[("resources",)] == (2, 16)
    assert positions[("resources", 0)] == (3, 5)
    assert positions[("resources", 0, "name")] == (3, 14)
    assert positions[("resources", 0, "n")] == (3, 36)
    assert positions[("resources", 1)] == (4, 5)


def test_product_template_positions_point_at_the_expression() -> None:
    text = (ROOT / "templates" / "mainTemplate.json").read_text()
    _, positions = loads_with_positions(text)
    line, column = positions[("resources", 1, "properties", "principalId")]
    assert text.splitlines()[line - 1][column - 1 :].startswith('"[reference(')


def test_comments_are_accepted_as_json_net_accepts_them() -> None:
    text = '// header\n{ /* inline */ "a": 1, // trailing\n  "b": "// not a comment" /* end */ }\n'
    value, positions = loads_with_positions(text)
    assert value == {"a": 1, "b": "// not a comment"}
    assert positions[("b",)] == (3, 8)


def test_single_quotes_and_unquoted_names_as_json_net_reads_them() -> None:
    # Azure accepts the seed's body {authorizationAudience: '...'} (Json.NET's leniency), so the parser does too.
    value, positions = loads_with_positions(
        r"""{authorizationAudience: 'api://x', 'quoted': 'it\'s "q"', $n_1: [1]}"""
    )
    assert value == {"authorizationAudience": "api://x", "quoted": 'it\'s "q"', "$n_1": [1]}
    assert positions[("authorizationAudience",)] == (1, 25)


def test_escapes_and_unicode() -> None:
    value, _ = loads_with_positions(r'{"s": "a\"b\\c\/\n\u00e9\ud83d\ude00"}')
    assert value == {"s": 'a"b\\c/\né\U0001f600'}


def test_ints_stay_ints_and_a_later_duplicate_key_wins() -> None:
    value, _ = loads_with_positions('{"n": 9223372036854775807, "n2": 1, "n2": 2}')
    assert value == {"n": 9223372036854775807, "n2": 2}
    assert isinstance(value["n"], int)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1,\n  "b" 2}', "Line 2, position 7"),
        ('{"a": [1, 2}', "Line 1, position 12"),
        ('{"a": "x', "Line 1, position 7"),
        ('{"a": 1} x', "Line 1, position 10"),
        ('{"a": tru}', "Line 1, position 7"),
        ("/* open", "Line 1, position 1"),
    ],
)
def test_invalid_json_names_line_and_column(text: str, where: str) -> None:
    with pytest.raises(ValueError, match=where):
        loads_with_positions(text)
