"""A template parameter's value against its declaration (type, allowedValues, bounds), with ARM's messages;
and how a deployment shows a parameter's or output's type."""

from __future__ import annotations

from typing import Any

from ..base import ArmError
from .scope import expected_type
from .values import TemplateError, arm_type

_TYPE_LABELS = {"securestring": "SecureString", "secureobject": "SecureObject"}


def type_label(declared: str) -> str:
    """How ARM shows a parameter's or output's type in a deployment (``String``, ``Int``, ``SecureString``)."""
    return _TYPE_LABELS.get(declared.lower(), declared[:1].upper() + declared[1:].lower())


def invalid_template(message: str) -> ArmError:
    return ArmError(400, "InvalidTemplate", f"Deployment template validation failed: '{message}'.")


def check_parameter(name: str, decl: dict[str, Any], value: Any, where: str) -> None:
    try:
        wanted = expected_type(str(decl.get("type", "")))
    except TemplateError as exc:
        raise invalid_template(
            f"The template parameter '{name}' {where} is not valid: {exc.message}"
        ) from exc
    actual = arm_type(value)
    if actual != wanted:
        raise invalid_template(
            f"Template parameter JToken type is not valid. Expected '{wanted}'. Actual '{actual}'. Please see "
            "https://aka.ms/resource-manager-parameter-files for usage details."
        )
    allowed = decl.get("allowedValues")
    if allowed is not None and value not in allowed:
        raise invalid_template(
            f"The provided value '{value}' for the template parameter '{name}' {where} is not valid. The "
            f"parameter value is not part of the allowed value(s): '{','.join(str(a) for a in allowed)}'."
        )
    bounds = [
        ("minValue", lambda b: value < b, "less than the minimum value"),
        ("maxValue", lambda b: value > b, "greater than the maximum value"),
        ("minLength", lambda b: len(value) < b, "shorter than the minimum length"),
        ("maxLength", lambda b: len(value) > b, "longer than the maximum length"),
    ]
    for keyword, broken, words in bounds:
        if keyword in decl and broken(decl[keyword]):
            raise invalid_template(
                f"The provided value for the template parameter '{name}' {where} is not valid. The value is "
                f"{words} '{decl[keyword]}'."
            )
