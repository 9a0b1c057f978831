"""ARM's request body reader: what Json.NET's JsonTextReader accepts beyond JSON, and its messages for the rest."""

from __future__ import annotations

import math

import pytest

from sandbox.arm.newtonsoft import JsonNetError, loads


def test_accepts_what_json_net_accepts() -> None:
    text = """{ // comment
      unquoted: 'single', "double": "x", $id_1: [1, 2,], /* block */ 'q': {a: 0x1F, b: 017, c: -1.5e2,},
      empty: [1,,2], u: undefined, t: true, f: false, n: null,
    }"""
    assert loads(text) == {
        "unquoted": "single",
        "double": "x",
        "$id_1": [1, 2],
        "q": {"a": 31, "b": 15, "c": -150.0},
        "empty": [1, None, 2],
        "u": None,
        "t": True,
        "f": False,
        "n": None,
    }
    special = loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(special[0]) and special[1:] == [math.inf, -math.inf]
    assert loads(r'{"s": "\u00e9\n\'\"\/"}') == {"s": "é\n'\"/"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{a: b}", "Unexpected character encountered while parsing value: b. Path 'a', line 1, position 4."),
        ("{a b}", "Invalid character after parsing property name. Expected ':' but got: b. Path '', line 1"),
        ("{a-b: 1}", "Invalid JavaScript property identifier character: -."),
        ('{"a": 1 "b": 2}', 'After parsing a value an unexpected character was encountered: ".'),
        ('{"a": "x\\q"}', "Bad JSON escape sequence: \\q. Path 'a'"),
        ("{'a': 'x}", "Unterminated string. Expected delimiter: '."),
        ("[1, 2", "Unexpected end when reading JSON. Path '[1]'"),
        ("{} {}", "Additional text encountered after finished reading JSON content: {."),
        ('{"a": tru}', "Error parsing boolean value. Path 'a'"),
        ('{"a": [1, 2z]}', "Unexpected character encountered while parsing number: z. Path 'a[1]'"),
        ('{"a": 2x}', "Input string '2x' is not a valid number. Path 'a'"),
        (
            '{"p": {"protocol": ICMPv6}}',
            "Error parsing Infinity value. Path 'p.protocol', line 1,",
        ),
        ("{\n  'a': 1,\n  'b': /x\n}", "Error parsing comment. Expected: *, got x. Path 'b', line 3"),
    ],
)
def test_refuses_the_rest_with_json_net_messages(text: str, message: str) -> None:
    with pytest.raises(JsonNetError) as err:
        loads(text)
    assert str(err.value).startswith(message)
