"""The ARM template expression language: parsing, evaluation, each function with ARM's results and errors.

The Scope here is a plain class implementing the engine's seam (parameters, variables, scopes, reference); it is
not a stand-in for any wire. Where a value or message comes from Azure's documentation or another source, the
test says which (details in docs/fidelity/expressions.md).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.arm.template.expressions import (
    Call,
    Index,
    Literal,
    Property,
    TemplateError,
    evaluate,
    evaluate_node,
    function_calls,
    is_expression,
    parse,
)
from sandbox.arm.template.functions_strings import format_datetime
from sandbox.arm.template.hashing import deterministic_guid, unique_string
from sandbox.arm.template.values import Invocation

SUB = "5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/contoso-rg"
USAGE = "Please see https://aka.ms/arm-functions for usage details."


class FakeScope:
    """The engine's seam with fixed answers; records what reference()/list*() were asked."""

    def __init__(
        self, parameters: dict[str, Any] | None = None, variables: dict[str, Any] | None = None
    ) -> None:
        self.parameters = parameters or {}
        self.variables = variables or {}
        self.references: list[tuple[str, str | None, bool]] = []
        self.list_calls: list[tuple[str, str, str, Any]] = []
        self.copy: dict[str | None, int] = {None: 2, "loop": 5}

    def parameter(self, name: str) -> Any:
        if name not in self.parameters:
            raise TemplateError(f"The template parameter '{name}' is not found.")
        return self.parameters[name]

    def variable(self, name: str) -> Any:
        if name not in self.variables:
            raise TemplateError(f"The template variable '{name}' is not found.")
        return evaluate(self.variables[name], self)

    def resource_group(self) -> dict[str, Any]:
        return {
            "id": RG_ID,
            "name": "contoso-rg",
            "type": "Microsoft.Resources/resourceGroups",
            "location": "westeurope",
            "tags": {},
            "properties": {"provisioningState": "Succeeded"},
        }

    def subscription(self) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{SUB}",
            "subscriptionId": SUB,
            "tenantId": "t-1",
            "displayName": "Contoso",
        }

    def tenant(self) -> dict[str, Any]:
        return {"tenantId": "t-1", "countryCode": "US"}

    def deployment(self) -> dict[str, Any]:
        return {
            "name": "deploy-1",
            "properties": {
                "template": {"contentVersion": "1.0.0.0"},
                "parameters": {},
                "mode": "Incremental",
            },
        }

    def environment(self) -> dict[str, Any]:
        return {
            "name": "AzureCloud",
            "resourceManager": "https://management.azure.com/",
            "suffixes": {"storage": "core.windows.net"},
        }

    def reference(self, resource: str, api_version: str | None, full: bool) -> Any:
        self.references.append((resource, api_version, full))
        properties = {"principalId": "p-1", "clientId": "c-1"}
        return {"id": resource, "properties": properties} if full else properties

    def list_action(self, resource_id: str, api_version: str, action: str, body: Any) -> Any:
        self.list_calls.append((resource_id, api_version, action, body))
        return {"keys": [{"value": "k1"}]}

    def copy_index(self, loop: str | None, offset: int) -> int:
        if loop not in self.copy:
            raise TemplateError(f"The copy loop '{loop}' is not found.")
        return self.copy[loop] + offset


def ev(expression: str, scope: FakeScope | None = None, **kwargs: Any) -> Any:
    return evaluate(expression, scope or FakeScope(), **kwargs)


def error_of(expression: str, scope: FakeScope | None = None) -> str:
    with pytest.raises(TemplateError) as caught:
        ev(expression, scope)
    assert caught.value.code == "InvalidTemplate"
    return caught.value.message


# ---------------------------------------------------------------- parsing


def test_is_expression_and_the_double_bracket_escape() -> None:
    assert is_expression("[concat('a')]")
    assert not is_expression("[[literal]")
    assert not is_expression("[test] value")
    assert not is_expression("plain")
    # template-expressions.md, "Escape characters": "[[test value]" resolves to "[test value]";
    # "[test] value" (no closing bracket at the end) is taken as is.
    assert ev("[[test value]") == "[test value]"
    assert ev("[test] value") == "[test] value"
    assert ev("[[no closing") == "[[no closing"


def test_parse_builds_calls_literals_and_accessors() -> None:
    node = parse("[ concat( 'it''s' , -12 , resourceGroup( ).id ,createArray(1)[0], x.y('a')) ]")
    assert isinstance(node, Call) and node.name == "concat"
    quoted, number, prop, index, udf = node.args
    assert quoted == Literal("it's")
    assert number == Literal(-12)
    assert prop == Property(Call("resourceGroup", []), "id")
    assert index == Index(Call("createArray", [Literal(1)]), Literal(0))
    assert udf == Call("x.y", [Literal("a")])


def test_property_and_index_chains() -> None:
    scope = FakeScope(variables={"v": {"a": [{"b": {"c-d": "deep"}}]}})
    assert ev("[variables('v').a[0].b['c-d']]", scope) == "deep"
    assert ev("[variables( 'v' )[ 'a' ][ 0 ].b]", scope) == {"c-d": "deep"}


def test_string_literals_keep_brackets_and_escaped_quotes() -> None:
    assert ev("[concat('[x]', '''', 'a,b(c)')]") == "[x]'a,b(c)"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "[concat('a')) ]",
            "Unable to parse language expression \"concat('a')) \": expected token 'EndOfData' and actual 'RightParenthesis'.",
        ),
        ("[concat('a',)]", "expected token 'Identifier' and actual 'RightParenthesis'."),
        ("[concat('a'", None),
        ("[]", "expected token 'Identifier' and actual 'EndOfData'."),
        ("[foo]", "expected token 'LeftParenthesis' and actual 'EndOfData'."),
        ("[concat('unterminated)]", "the string character ''' at position '8' is not expected."),
        ("[concat(1 + 2)]", "the string character '+' at position '10' is not expected."),
    ],
)
def test_syntax_errors_use_arm_wording(expression: str, message: str | None) -> None:
    if message is None:  # not an expression at all: ARM takes it as a literal string
        assert ev(expression) == expression
        return
    with pytest.raises(TemplateError) as caught:
        parse(expression)
    assert message.replace('"', "'") in caught.value.message.replace('"', "'")


def test_unknown_function_is_arms_invalid_template_error() -> None:
    # Wording: Azure/bicep baselines record ARM's own message, e.g. "The template function 'like' is not valid.
    # Please see https://aka.ms/arm-functions for usage details."
    message = error_of("[concat(fooBar('x'))]")
    assert message == f"The template function 'fooBar' is not valid. {USAGE}"


def test_function_names_are_case_insensitive() -> None:
    assert ev("[CONCAT(toupper('a'), ToLower('B'))]") == "Ab"


def test_evaluate_walks_objects_arrays_and_expression_keys() -> None:
    scope = FakeScope(parameters={"name": "n1", "count": 3})
    value = {
        "[parameters('name')]": {"list": ["[parameters('count')]", 4, None, True, "[[x]"]},
        "plain": "text",
    }
    assert evaluate(value, scope) == {"n1": {"list": [3, 4, None, True, "[x]"]}, "plain": "text"}


def test_an_expression_key_must_be_a_string() -> None:
    with pytest.raises(TemplateError, match="property name"):
        evaluate({"[add(1, 2)]": 1}, FakeScope())


def test_evaluate_node_and_function_calls() -> None:
    value = {
        "a": ["[reference(variables('id'), '2023-01-31').principalId]", "[concat('x', REFERENCE('y').z)]"],
        "[reference('k')]": 1,
    }
    calls = function_calls(value, {"Reference"})
    assert [c.name for c in calls] == ["reference", "REFERENCE", "reference"]
    assert calls[0].args[1] == Literal("2023-01-31")
    assert evaluate_node(parse("[add(2, 3)]"), FakeScope()) == 5


# ---------------------------------------------------------------- property access


def test_missing_property_uses_arm_wording() -> None:
    # Azure's message as users report it, e.g. azure-docs localized quickstarts: "The language expression property
    # 'templateLink' doesn't exist, available properties are 'template, templateHash, parameters, ...'."
    assert error_of("[deployment().properties.templateLink]") == (
        "The language expression property 'templateLink' doesn't exist, available properties are "
        "'template, parameters, mode'."
    )


def test_property_names_match_case_insensitively() -> None:
    # The seed's template reads identityProfile.kubeletIdentity where AKS answers "kubeletidentity".
    scope = FakeScope(variables={"aks": {"identityProfile": {"kubeletidentity": {"resourceId": "rid"}}}})
    assert ev("[variables('aks').identityProfile.kubeletIdentity.resourceId]", scope) == "rid"


def test_index_out_of_bounds_and_property_of_non_object() -> None:
    assert (
        error_of("[createArray(1, 2)[2]]")
        == "The language expression property array index '2' is out of bounds."
    )
    assert error_of("[null().x]") == "The language expression property 'x' can't be evaluated."
    assert "can only be indexed by an integer" in error_of("[createArray(1)['a']]")


# ---------------------------------------------------------------- strings


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[concat('a', 'b', 1)]", "ab1"),
        ("[concat(createArray(1, 2), createArray(3))]", [1, 2, 3]),
        ("[toLower('AbC')]", "abc"),
        ("[toUpper('AbC')]", "ABC"),
        # template-functions-string.md examples
        ("[replace('123-123-1234', '-', '')]", "1231231234"),
        ("[replace('123-123-1234', '1234', 'xxxx')]", "123-123-xxxx"),
        ("[take('one two three', 2)]", "on"),
        ("[take(createArray('one', 'two', 'three'), 2)]", ["one", "two"]),
        ("[take('abc', -1)]", ""),
        ("[skip('one two three', 4)]", "two three"),
        ("[skip(createArray('one', 'two', 'three'), 2)]", ["three"]),
        ("[skip('abc', 10)]", ""),
        ("[substring('123456789', 1, 3)]", "234"),
        ("[substring('abc', 1)]", "bc"),
        ("[split('one,two,three', ',')]", ["one", "two", "three"]),
        ("[split('one;two,three', createArray(',', ';'))]", ["one", "two", "three"]),
        ("[split('a,,b', ',')]", ["a", "", "b"]),
        ("[trim('  one two  ')]", "one two"),
        ("[padLeft('123', 10, '0')]", "0000000123"),
        ("[padLeft(7, 3)]", "  7"),
        ("[padLeft('12345', 3, '0')]", "12345"),
        ("[startsWith('abcdef', 'A')]", True),
        ("[endsWith('abcdef', 'F')]", True),
        ("[endsWith('abcdef', 'e')]", False),
        ("[indexOf('abcdef', 'CD')]", 2),
        ("[lastIndexOf('test', 't')]", 3),
        ("[lastIndexOf('abcdef', 'AB')]", 0),
        ("[indexOf('abcdef', 'z')]", -1),
        ("[indexOf('abcdef', '')]", 0),
        ("[lastIndexOf('abcdef', '')]", 5),
        ("[lastIndexOf('', '')]", 0),
        ("[first('')]", ""),
        (
            "[dataUriToString('data:text/plain;charset=UTF-8;page=21,the%20data:1234,5678')]",
            "the data:1234,5678",
        ),
        ("[concat(100, 'aaa', 200)]", "100aaa200"),
        ("[concat(createArray('hello', 100), createArray())]", ["hello", 100]),
        ("[indexOf(createArray('a', 'b'), 'b')]", 1),
        ("[first('One Two Three')]", "O"),
        ("[last('One Two Three')]", "e"),
        ("[first(createArray('one', 'two'))]", "one"),
        ("[last(createArray('one', 'two'))]", "two"),
        ("[length('One Two Three')]", 13),
        ("[base64('one, two, three')]", "b25lLCB0d28sIHRocmVl"),
        ("[base64ToString('b25lLCB0d28sIHRocmVl')]", "one, two, three"),
        ('[base64ToJson(base64(\'{"one": "a"}\')).one]', "a"),
        ("[dataUri('Hello')]", "data:text/plain;charset=utf8;base64,SGVsbG8="),
        ("[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]", "Hello, World!"),
        (
            "[uri('http://contoso.com/resources/', 'nested/azuredeploy.json')]",
            "http://contoso.com/resources/nested/azuredeploy.json",
        ),
        ("[uri('http://contoso.org/firstpath', 'myScript.sh')]", "http://contoso.org/myScript.sh"),
        ("[uri('http://contoso.org/firstpath/', '/myScript.sh')]", "http://contoso.org/myScript.sh"),
        (
            "[uriComponent('http://contoso.com/resources/nested/azuredeploy.json')]",
            "http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json",
        ),
        (
            "[uriComponentToString('http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json')]",
            "http://contoso.com/resources/nested/azuredeploy.json",
        ),
        (
            "[string(createObject('valueA', 10, 'valueB', 'Example Text'))]",
            '{"valueA":10,"valueB":"Example Text"}',
        ),
        ("[string(createArray('a', 'b', 'c'))]", '["a","b","c"]'),
        ("[string(5)]", "5"),
        # ARM prints booleans as .NET does (Azure/PSRule.Rules.Azure#793: string(true()) = "True").
        ("[string(true())]", "True"),
        ('[json(\'{"a": "b"}\').a]', "b"),
        ("[json('null')]", None),
        ("[json('[1,2,3 ]')]", [1, 2, 3]),
    ],
)
def test_string_functions(expression: str, expected: Any) -> None:
    assert ev(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # The docs' example: format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', 8175133)
        (
            "[format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', 8175133)]",
            "Hello, User. Formatted number: 8,175,133",
        ),
        ("[format('{0:D4}-{1:X}-{2:x4}-{3:000}', 7, 255, 10, 5)]", "0007-FF-000a-005"),
        ("[format('{{literal}} {0,5}|{0,-5}|', 'ab')]", "{literal}    ab|ab   |"),
        ("[format('{0} {1}', true(), 'x')]", "True x"),
        ("[format('{0:N}', 1234)]", "1,234.00"),
    ],
)
def test_format_is_dotnet_composite_formatting(expression: str, expected: str) -> None:
    assert ev(expression) == expected


def test_format_errors() -> None:
    # Wording recorded by Azure/bicep's baselines: "Unable to evaluate language function 'format': the format is
    # invalid: 'Index (zero based) must be greater than ...'".
    assert "Index (zero based) must be greater than or equal to zero" in error_of(
        "[format('->{123}<-', 123)]"
    )
    assert "Input string was not in a correct format." in error_of("[format('{0', 1)]")
    # Kingsland.ArmLinter's recorded message for a non-string format.
    assert "the first argument must be a string literal" in error_of("[format(100)]")
    assert ev("[format('aaa')]") == "aaa"


def test_substring_out_of_range_uses_the_documented_message() -> None:
    assert error_of("[substring('1234567890', 0, 11)]").startswith(
        "The index and length parameters must refer to a location within the string. The index parameter: '0', "
        "the length parameter: '11', the length of the string parameter: '10'."
    )


def test_string_argument_type_errors() -> None:
    # ARM's form, e.g. "The template language function 'int' expects its first parameter to be one of the
    # following types 'Integer, String'. The provided value is of type 'Boolean'." (Azure/azure-quickstart-templates#2019)
    assert error_of("[int(true())]").startswith(
        "The template language function 'int' expects its first parameter to be one of the following types "
        "'Integer, String'. The provided value is of type 'Boolean'."
    )
    assert (
        "expects its first parameter to be of type 'String'. The provided value is of type 'Integer'."
        in error_of("[toLower(1)]")
    )
    assert "function requires 1 argument(s) while 2 were provided" in error_of("[toLower('a', 'b')]")
    assert "expects its first parameter" in error_of("[string(null())]")


# ---------------------------------------------------------------- uniqueString and guid


@pytest.mark.parametrize(
    ("args", "expected", "source"),
    [
        # Azure/bicep bicepparam baselines: Bicep folds uniqueString with ARM's own expression library
        # (Azure.Deployments.Expression) and records the result type 'iizpqit7ih3cc'.
        (("asd", "asdf", "asdf"), "iizpqit7ih3cc", "Azure/bicep baseline"),
        # Azure/terraform-provider-azapi internal/services/functions/unique_string_function_test.go.
        (("/subscriptions/00000000-0000-0000-0000-000000000000", "resource-id"), "cwvxuqg24sifi", "azapi"),
        # microsoft/commercial-marketplace-offer-deploy ArmFunctionsTests: computed with Azure.Deployments.Expression
        # for a resource id taken from an ARM output.
        (
            (
                "/subscriptions/31e9f9a0-9fd2-4294-a0a3-0101246d9700/resourceGroups/rg-modm201-20230913120256/providers/Microsoft.Compute/virtualMachines/bobjacmodm201",
            ),
            "yvjxno3je5on2",
            "modm",
        ),
    ],
)
def test_unique_string_gives_azures_values(args: tuple[str, ...], expected: str, source: str) -> None:
    assert unique_string(*args) == expected, source
    quoted = ", ".join(f"'{a}'" for a in args)
    assert ev(f"[uniqueString({quoted})]") == expected


def test_unique_string_shape_and_hyphen_joining() -> None:
    value = ev("[uniqueString(resourceGroup().id)]")
    assert len(value) == 13 and set(value) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert ev("[uniqueString('a', 'b')]") == ev("[uniqueString('a-b')]")  # arguments are joined with '-'
    assert "expects its second parameter to be of type 'String'" in error_of("[uniqueString('a', 1)]")
    assert "function requires at least 1 argument(s) while 0 were provided" in error_of("[uniqueString()]")


def test_unique_string_covers_every_tail_length() -> None:
    # 8-byte blocks then a 1..7-byte tail: each path is exercised and stays in the base-32 alphabet.
    values = {unique_string("x" * n) for n in range(0, 24)}
    assert len(values) == 24


def test_guid_is_a_version_5_uuid_in_arms_namespace() -> None:
    # docs: "implements the algorithm from RFC 4122 §4.3" (GuidUtility); namespace 11fb06fb-712d-4ddd-98c7-e71bbd588830
    # as independent reimplementations use it. No Azure-published input/output pair was found (see the docs file).
    value = ev("[guid(resourceGroup().id, 'x')]")
    parsed = uuid.UUID(value)
    assert parsed.version == 5 and str(parsed) == value
    assert value == str(uuid.uuid5(uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830"), f"{RG_ID}-x"))
    assert deterministic_guid("hello", "world") != deterministic_guid("world", "hello")
    assert ev("[guid('a', 'b')]") == ev("[guid('a-b')]")


def test_new_guid_and_utc_now_only_in_parameter_defaults() -> None:
    assert (
        error_of("[newGuid()]")
        == f"The template function 'newGuid' is not expected at this location. {USAGE}"
    )
    assert "is not expected at this location" in error_of("[utcNow()]")
    assert uuid.UUID(ev("[newGuid()]", in_parameter_default=True)).version == 4
    stamp = ev("[utcNow()]", in_parameter_default=True)
    assert len(stamp) == 16 and stamp[8] == "T" and stamp.endswith("Z")  # yyyyMMddTHHmmssZ
    short = ev("[utcNow('d')]", in_parameter_default=True)  # invariant culture: MM/dd/yyyy
    assert len(short) == 10 and short[2] == "/" and short[5] == "/"
    assert ev("[utcNow('yyyy-MM-dd HH:mm')]", in_parameter_default=True)[4] == "-"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # template-functions-date.md, utcNow: the example's outputs for 2019-03-05 17:53:18 UTC.
        ("yyyyMMddTHHmmssZ", "20190305T175318Z"),
        ("d", "03/05/2019"),
        ("M d", "3 5"),
        ("u", "2019-03-05 17:53:18Z"),
        ("yyyy-MM-ddTHH:mm:ss.fffZ", "2019-03-05T17:53:18.250Z"),
        ("hh:mm tt 'at' dd", "05:53 PM at 05"),
    ],
)
def test_utc_now_formats_as_dotnet_with_the_invariant_culture(pattern: str, expected: str) -> None:
    moment = datetime(2019, 3, 5, 17, 53, 18, 250000, tzinfo=UTC)
    call = Invocation("utcNow", FakeScope(), True, lambda node: node)
    assert format_datetime(call, moment, pattern) == expected


# ---------------------------------------------------------------- logic and comparison


def test_if_evaluates_only_the_chosen_branch() -> None:
    # template-functions-logical.md: "When the condition is True, only the true value is evaluated."
    assert ev("[if(true(), 'yes', fail())]") == "yes"
    assert ev("[if(equals(1, 2), createArray(1)[5], 'no')]") == "no"
    assert ev("[if(false(), 'a', null())]") is None


def test_if_condition_must_be_a_boolean() -> None:
    # Azure's wording (f5devcentral/f5-azure-saca#104): "The provided arguments for template language function 'if'
    # is not valid: all arguments should be of type 'boolean'."
    assert error_of("[if('true', 1, 2)]").startswith(
        "The provided arguments for template language function 'if' is not valid: all arguments should be of type "
        "'boolean'."
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[and(true(), true(), false())]", False),
        ("[or(false(), true())]", True),
        ("[not(equals(1, 2))]", True),
        ("[bool('TRUE')]", True),
        ("[bool('false')]", False),
        ("[bool(0)]", False),
        ("[bool(1)]", True),
        ("[equals(createArray('a', 'b'), createArray('a', 'b'))]", True),
        ("[equals(createObject('a', 'b'), json('{\"a\": \"b\"}'))]", True),
        (
            "[equals('a', 'A')]",
            False,
        ),  # Bicep's == (compiled to equals) is case-sensitive; =~ is its ignore-case form
        ("[equals(1, '1')]", False),
        ("[equals(true(), 1)]", False),
        ("[less(1, 2)]", True),
        ("[greater(1, 2)]", False),
        # azure-docs-json-samples functions/comparison/{greater,less}.json: greater('A', 'a') is True, less is False.
        ("[greater('A', 'a')]", True),
        ("[less('A', 'a')]", False),
        ("[greaterOrEquals('a', 'a')]", True),
        ("[lessOrEquals('b', 'A')]", False),
        ("[coalesce(null(), null(), 'default')]", "default"),
        ("[coalesce(null(), '')]", ""),
        ("[coalesce(null())]", None),
    ],
)
def test_logic_and_comparison(expression: str, expected: Any) -> None:
    assert ev(expression) == expected


def test_logic_type_errors() -> None:
    assert "all arguments should be of type 'boolean'" in error_of("[and(true(), 1)]")
    assert "can't be compared" in error_of("[less(1, 'a')]")
    assert "not a valid boolean" in error_of("[bool('yes')]")


# ---------------------------------------------------------------- arrays, objects, numbers


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[array('efgh')]", ["efgh"]),
        ("[array(createArray(1))]", [1]),
        ("[createArray()]", []),
        (
            "[createObject('intProp', 1, 'boolProp', true(), 'arrayProp', createArray('a'))]",
            {"intProp": 1, "boolProp": True, "arrayProp": ["a"]},
        ),
        # template-functions-object.md examples
        ("[contains('OneTwoThree', 'e')]", True),
        ("[contains('OneTwoThree', 'two')]", False),
        ("[contains(createObject('one', 'a'), 'ONE')]", True),
        ("[contains(createObject('one', 'a'), 'a')]", False),
        ("[contains(createArray('one', 'two'), 'two')]", True),
        ("[contains(createArray(1, 2), 3)]", False),
        ("[empty('')]", True),
        ("[empty(createArray())]", True),
        ("[empty(createObject())]", True),
        ("[empty(json('null'))]", True),
        ("[empty('x')]", False),
        ("[intersection(createArray('one', 'two', 'three'), createArray('two', 'three'))]", ["two", "three"]),
        (
            "[intersection(createObject('one', 'a', 'two', 'b', 'three', 'c'), createObject('one', 'a', 'two', 'z', 'three', 'c'))]",
            {"one": "a", "three": "c"},
        ),
        (
            "[union(createArray('one', 'two', 'three'), createArray('three', 'four'))]",
            ["one", "two", "three", "four"],
        ),
        (
            "[union(createObject('one', 'a', 'two', 'b', 'three', 'c1'), createObject('three', 'c2', 'four', 'd', 'five', 'e'))]",
            {"one": "a", "two": "b", "three": "c2", "four": "d", "five": "e"},
        ),
        (
            '[items(json(\'{"item002": 2, "item001": 1}\'))]',
            [{"key": "item001", "value": 1}, {"key": "item002", "value": 2}],
        ),
        ("[length(createObject('a', 1, 'b', 2))]", 2),
        ("[length(createArray(1, 2, 3))]", 3),
        ("[join(createArray('one', 'two', 'three'), ';')]", "one;two;three"),
        ("[null()]", None),
        ("[tryGet(createObject('a', createArray(1, 2)), 'a', 1)]", 2),
        ("[tryGet(createObject('a', 1), 'b')]", None),
        ("[first(createArray())]", None),
        ("[add(5, 3)]", 8),
        ("[sub(7, 3)]", 4),
        ("[mul(5, 3)]", 15),
        ("[div(8, 3)]", 2),
        ("[div(-8, 3)]", -2),  # .NET truncates toward zero
        ("[mod(7, 3)]", 1),
        ("[mod(-7, 3)]", -1),  # .NET remainder takes the dividend's sign
        ("[int('4')]", 4),
        ("[int(' -12 ')]", -12),
        ("[min(createArray(0, 3, 2, 5, 4))]", 0),
        ("[min(0, 3, 2, 5, 4)]", 0),
        ("[max(createArray(0, 3), 5, 4)]", 5),
        ("[range(1, 3)]", [1, 2, 3]),
        ("[range(5, 0)]", []),
        ("[float('1.5')]", 1.5),
        ("[copyIndex()]", 2),
        ("[copyIndex(1)]", 3),
        ("[copyIndex('loop')]", 5),
        ("[copyIndex('loop', 10)]", 15),
    ],
)
def test_array_object_and_numeric_functions(expression: str, expected: Any) -> None:
    result = ev(expression)
    assert result == expected
    assert type(result) is type(expected)


def test_union_merges_nested_objects_but_not_arrays() -> None:
    # template-functions-object.md, union: the deep merge example and its output.
    first = {"property": {"one": "a", "two": "b", "three": "c1"}, "nestedArray": [1, 2]}
    second = {"property": {"three": "c2", "four": "d", "five": "e"}, "nestedArray": [3, 4]}
    scope = FakeScope(variables={"first": first, "second": second})
    assert ev("[union(variables('first'), variables('second'))]", scope) == {
        "property": {"one": "a", "two": "b", "three": "c2", "four": "d", "five": "e"},
        "nestedArray": [3, 4],
    }
    arrays = FakeScope(variables={"a": [["one", "two"], ["three"]], "b": [["three"], ["four", "two"]]})
    assert ev("[union(variables('a'), variables('b'))]", arrays) == [
        ["one", "two"],
        ["three"],
        ["four", "two"],
    ]


def test_integers_are_64_bit() -> None:
    assert ev("[add(9223372036854775806, 1)]") == 9223372036854775807
    assert "64-bit" in error_of("[add(9223372036854775807, 1)]")
    assert "64-bit" in error_of("[mul(4611686018427387904, 2)]")


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("[div(1, 0)]", "divide by zero"),
        ("[mod(1, 0)]", "divide by zero"),
        ("[int('1.5')]", "not a valid integer"),
        ("[range(1, 10001)]", "between 0 and 10000"),
        ("[range(2147483647, 1)]", "2147483647"),
        ("[createObject('a')]", "even number"),
        ("[union(createArray(1), createObject())]", "all arguments must be arrays"),
        # Kingsland.ArmLinter records ARM's message: "Either all or none of the parameters must be an array."
        ("[concat(createArray(1), 'a')]", "Either all or none of the parameters must be an array."),
        ("[concat('a', createArray(1))]", "Either all or none of the parameters must be an array."),
        (
            "[concat('a', createObject())]",
            "expects its second parameter to be one of the following types 'String, Integer'",
        ),
        ("[length(null())]", "The provided value is of type 'Null'"),
        ("[add(1)]", "function requires 2 argument(s) while 1 were provided"),
        ("[copyIndex('nope')]", "The copy loop 'nope' is not found."),
    ],
)
def test_argument_errors(expression: str, fragment: str) -> None:
    assert fragment in error_of(expression)


# ---------------------------------------------------------------- deployment and resource functions


def test_scope_functions_come_from_the_scope() -> None:
    scope = FakeScope(parameters={"p": "v"}, variables={"x": "[concat(parameters('p'), '!')]"})
    assert ev("[parameters('p')]", scope) == "v"
    assert ev("[variables('x')]", scope) == "v!"
    assert ev("[resourceGroup().location]", scope) == "westeurope"
    assert ev("[subscription().subscriptionId]", scope) == SUB
    assert ev("[tenant().tenantId]", scope) == "t-1"
    assert ev("[deployment().name]", scope) == "deploy-1"
    assert ev("[environment().suffixes.storage]", scope) == "core.windows.net"
    assert error_of("[parameters('nope')]", scope) == "The template parameter 'nope' is not found."


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "[resourceId('Microsoft.Storage/storageAccounts', 'examplestorage')]",
            f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/examplestorage",
        ),
        (
            "[resourceId('otherResourceGroup', 'Microsoft.Storage/storageAccounts', 'examplestorage')]",
            f"/subscriptions/{SUB}/resourceGroups/otherResourceGroup/providers/Microsoft.Storage/storageAccounts/examplestorage",
        ),
        (
            "[resourceId('11111111-2222-3333-4444-555555555555', 'otherResourceGroup', 'Microsoft.Storage/storageAccounts', 'examplestorage')]",
            "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/otherResourceGroup/providers/Microsoft.Storage/storageAccounts/examplestorage",
        ),
        (
            "[resourceId('Microsoft.ServiceBus/namespaces/queues/authorizationRules', 'namespace1', 'queue1', 'auth1')]",
            f"{RG_ID}/providers/Microsoft.ServiceBus/namespaces/namespace1/queues/queue1/authorizationRules/auth1",
        ),
        # The seed's template writes the type with a trailing slash and deploys on Azure.
        (
            "[resourceId('Microsoft.ContainerService/managedClusters/', 'aks')]",
            f"{RG_ID}/providers/Microsoft.ContainerService/managedClusters/aks",
        ),
        (
            "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '8e3af657-a8ff-443c-a75c-2fe8c4bcb635')]",
            f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        ),
        (
            "[subscriptionResourceId('99999999-2222-3333-4444-555555555555', 'Microsoft.Resources/resourceGroups', 'rg')]",
            "/subscriptions/99999999-2222-3333-4444-555555555555/providers/Microsoft.Resources/resourceGroups/rg",
        ),
        (
            "[tenantResourceId('Microsoft.Authorization/policyDefinitions', 'p1')]",
            "/providers/Microsoft.Authorization/policyDefinitions/p1",
        ),
        (
            "[extensionResourceId(resourceGroup().id, 'Microsoft.Authorization/locks', 'lock1')]",
            f"{RG_ID}/providers/Microsoft.Authorization/locks/lock1",
        ),
    ],
)
def test_resource_ids(expression: str, expected: str) -> None:
    assert ev(expression) == expected


def test_resource_id_segment_count_error_is_arms() -> None:
    # Azure's message (ARM deployment error quoted in public logs): "Unable to evaluate template language function
    # 'resourceId': the type 'Microsoft.Network/applicationGateways/httpListeners' requires '2' resource name
    # argument(s)."
    assert error_of("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet')]").startswith(
        "Unable to evaluate template language function 'resourceId': the type "
        "'Microsoft.Network/virtualNetworks/subnets' requires '2' resource name argument(s)."
    )
    assert "requires '1' resource name argument(s)" in error_of(
        "[subscriptionResourceId('Microsoft.A/b', 'x', 'y')]"
    )
    assert "too many scope arguments" in error_of("[resourceId('a', 'b', 'c', 'Microsoft.A/b', 'x')]")
    assert "too many scope arguments" in error_of("[tenantResourceId('x', 'Microsoft.A/b', 'y')]")


def test_reference_and_list_functions_go_to_the_scope() -> None:
    scope = FakeScope()
    assert ev("[reference('id1', '2023-01-31').principalId]", scope) == "p-1"
    assert ev("[reference('id2', '2023-01-31', 'Full').properties.clientId]", scope) == "c-1"
    assert ev("[reference('id3').principalId]", scope) == "p-1"
    assert scope.references == [
        ("id1", "2023-01-31", False),
        ("id2", "2023-01-31", True),
        ("id3", None, False),
    ]
    assert "must be 'Full'" in error_of("[reference('id', '2023-01-31', 'Partial')]", scope)
    assert ev("[listKeys('sa-id', '2023-01-01').keys[0].value]", scope) == "k1"
    ev("[listAccountSas('sa-id', '2023-01-01', createObject('signedExpiry', 'x'))]", scope)
    assert scope.list_calls[-2:] == [
        ("sa-id", "2023-01-01", "listKeys", None),
        ("sa-id", "2023-01-01", "listAccountSas", {"signedExpiry": "x"}),
    ]


# ---------------------------------------------------------------- the product's and the seed's templates

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FILES = [
    ROOT / "templates" / "mainTemplate.json",
    ROOT / "templates" / "1.1.0" / "mainTemplate.json",
    ROOT / "templates" / "roleAssignment.json",
    ROOT.parent / "shared" / "seed" / "ama-aks" / "mainTemplate.json",
    ROOT.parent / "shared" / "seed" / "managedIdentityRoleAssignment.json",
]
_DUMMY = {"string": "value-1", "securestring": "secret", "int": 1, "bool": True, "object": {}, "array": []}


class TemplateSweepScope(FakeScope):
    """Parameters by declared type (over the template and its nested templates); variables from the template;
    reference() answering with the properties those templates read."""

    def __init__(self, template: dict[str, Any]) -> None:
        declared: dict[str, Any] = {}
        raw_variables: dict[str, Any] = {}
        for body in _templates_in(template):
            for name, decl in body.get("parameters", {}).items():
                declared[name] = _DUMMY[decl["type"].lower()]
            raw_variables.update(body.get("variables", {}))
        super().__init__(declared, raw_variables)

    def reference(self, resource: str, api_version: str | None, full: bool) -> Any:
        identity = {"principalId": "p-1", "clientId": "c-1", "objectId": "o-1", "resourceId": "r-1"}
        properties = {
            **identity,
            "fqdn": "aks.example",
            "identityProfile": {"kubeletidentity": identity},
            "addonProfiles": {"omsagent": {"identity": identity}},
            "outputs": {"aksMiPrincipalId": {"value": "p-2"}, "aksMiResourceId": {"value": "r-2"}},
        }
        return {"id": resource, "properties": properties} if full else properties


def _templates_in(template: dict[str, Any]) -> list[dict[str, Any]]:
    found = [template]
    for resource in template.get("resources", []):
        inner = resource.get("properties", {}).get("template") if isinstance(resource, dict) else None
        if isinstance(inner, dict):
            found.extend(_templates_in(inner))
    return found


def _expressions(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    found: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(value, str) and is_expression(value):
        found.append((path, value))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(_expressions(key, (*path, "<key>")))
            found.extend(_expressions(item, (*path, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_expressions(item, (*path, i)))
    return found


@pytest.mark.parametrize(
    "path", [p for p in TEMPLATE_FILES if p.exists()], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_expression_in_the_templates_evaluates(path: Path) -> None:
    template = json.loads(path.read_text())
    scope = TemplateSweepScope(template)
    expressions = _expressions(template)
    assert expressions
    for where, expression in expressions:
        in_default = len(where) >= 2 and where[-1] == "defaultValue"
        try:
            evaluate(expression, scope, in_parameter_default=in_default)
        except TemplateError as exc:
            pytest.fail(f"{path.name} {where}: {expression}: {exc.message}")


def test_the_product_template_names_resources_as_azure_would() -> None:
    template = json.loads((ROOT / "templates" / "mainTemplate.json").read_text())
    scope = TemplateSweepScope(template)
    scope.parameters["aksName"] = "contoso-aks"
    account = evaluate(template["variables"]["storageAccountName"], scope)
    assert account == "contosoaks" + unique_string(RG_ID)
    assert len(account) <= 24
    owner = evaluate(template["resources"][1]["name"], scope)
    assert owner == str(
        uuid.uuid5(
            uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830"),
            f"{RG_ID}-value-1-8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        )
    )
