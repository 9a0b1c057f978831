"""Microsoft.Solutions/applicationDefinitions: a publisher's service catalog definitions (PUT/GET/list/DELETE).

A definition carries its template inline (``properties.mainTemplate``, an object or a JSON string, as the REST
spec allows; ``createUiDefinition`` likewise, kept and answered back) and optionally ``properties.notificationPolicy.notificationEndpoints[].uri``, where the applications
made from it are notified (``notifications``). ``packageFileUri`` is refused: the sandbox fetches no packages.
PUT answers 201 (200 when replacing) with the definition, already Succeeded; DELETE answers 200 (204 when there
was none) — the synchronous answers the spec (stable 2019-07-01) lists beside its long-running ones.
"""

from __future__ import annotations

import json
from typing import Any

from ..httpd import Response, json_response
from .base import (
    RG,
    SUB,
    ArmError,
    ArmRouter,
    Call,
    public,
    read_handlers,
    require_rg,
    require_write,
    resource_id_of,
)

DEF_TYPE = "Microsoft.Solutions/applicationDefinitions"
_LOCK_LEVELS = {"none": "None", "cannotdelete": "CanNotDelete", "readonly": "ReadOnly"}


def _invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidRequestContent", message)


def _template(props: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The inline template and its text (the text keeps positions for the template engine's errors)."""
    template = props.get("mainTemplate")
    if template is None:
        if props.get("packageFileUri"):
            raise _invalid(
                "The sandbox does not fetch packageFileUri: put the template in properties.mainTemplate."
            )
        raise _invalid("properties.mainTemplate is required.")
    if isinstance(template, str):
        try:
            parsed = json.loads(template)
        except ValueError as exc:
            raise _invalid(f"properties.mainTemplate is not well-formed JSON: {exc}.") from exc
        return parsed, template
    if not isinstance(template, dict):
        raise _invalid("properties.mainTemplate must be a JSON object or a JSON string.")
    return template, json.dumps(template)


def _create_ui_definition(props: dict[str, Any]) -> dict[str, Any] | None:
    """The inline UI definition (object or JSON string, like ``mainTemplate``), answered back as an object."""
    ui = props.get("createUiDefinition")
    if isinstance(ui, str):
        try:
            ui = json.loads(ui)
        except ValueError as exc:
            raise _invalid(f"properties.createUiDefinition is not well-formed JSON: {exc}.") from exc
    if ui is not None and not isinstance(ui, dict):
        raise _invalid("properties.createUiDefinition must be a JSON object or a JSON string.")
    return ui


def _notification_policy(props: dict[str, Any]) -> dict[str, Any] | None:
    policy = props.get("notificationPolicy")
    if policy is None:
        return None
    endpoints = policy.get("notificationEndpoints") if isinstance(policy, dict) else None
    if not isinstance(endpoints, list) or not all(isinstance(e, dict) and e.get("uri") for e in endpoints):
        raise _invalid("properties.notificationPolicy.notificationEndpoints must be a list of {'uri': ...}.")
    return {"notificationEndpoints": [{"uri": str(e["uri"])} for e in endpoints]}


def put_definition(call: Call) -> Response:
    definition_id = resource_id_of(call, DEF_TYPE)
    require_rg(call)
    require_write(call, f"{DEF_TYPE}/write", definition_id)
    body = call.body()
    props = body.get("properties") or {}
    lock_level = _LOCK_LEVELS.get(str(props.get("lockLevel") or "").lower())
    if lock_level is None:
        raise _invalid("properties.lockLevel must be one of None, CanNotDelete, ReadOnly.")
    template, text = _template(props)
    stored_props: dict[str, Any] = {
        "lockLevel": lock_level,
        "isEnabled": bool(props.get("isEnabled", True)),
        "displayName": props.get("displayName"),
        "description": props.get("description"),
        "authorizations": props.get("authorizations") or [],
        "mainTemplate": template,
        "provisioningState": "Succeeded",
    }
    ui = _create_ui_definition(props)
    if ui is not None:
        stored_props["createUiDefinition"] = ui
    policy = _notification_policy(props)
    if policy is not None:
        stored_props["notificationPolicy"] = policy
    stored = {
        "id": definition_id,
        "name": call.params["name"],
        "type": DEF_TYPE,
        "location": body.get("location"),
        "tags": body.get("tags") or {},
        "properties": stored_props,
        "_sandbox": {"main_template_text": text},
    }
    with call.world.lock:
        existed = call.world.get(definition_id) is not None
        call.world.put(stored)
    return json_response(public(stored), 200 if existed else 201)


def delete_definition(call: Call) -> Response:
    definition_id = resource_id_of(call, DEF_TYPE)
    require_rg(call)
    require_write(call, f"{DEF_TYPE}/delete", definition_id)
    return Response(status=200 if call.world.delete(definition_id) is not None else 204)


def register(router: ArmRouter) -> None:
    get, list_in_group, list_in_subscription = read_handlers(DEF_TYPE)
    one = RG + r"/providers/Microsoft\.Solutions/applicationDefinitions/(?P<name>[^/]+)"
    router.add("GET", SUB + r"/providers/Microsoft\.Solutions/applicationDefinitions", list_in_subscription)
    router.add("GET", RG + r"/providers/Microsoft\.Solutions/applicationDefinitions", list_in_group)
    router.add("GET", one, get)
    router.add("PUT", one, put_definition)
    router.add("DELETE", one, delete_definition)
