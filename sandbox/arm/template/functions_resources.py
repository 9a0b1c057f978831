"""ARM's deployment and resource functions: scopes, ``parameters``/``variables``, resource ids, ``reference``, ``list*``.

Everything that depends on the deployment is asked of the :class:`~.values.Scope`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .values import USAGE, Invocation, TemplateError

Impl = Callable[[Invocation, list[Any]], Any]
_TEXT = ("String",)


def parameters(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 1)
    return call.scope.parameter(call.expect(args, 0, *_TEXT))


def variables(call: Invocation, args: list[Any]) -> Any:
    call.arity(args, 1)
    return call.scope.variable(call.expect(args, 0, *_TEXT))


def resource_group(call: Invocation, args: list[Any]) -> dict[str, Any]:
    call.arity(args, 0)
    return call.scope.resource_group()


def subscription(call: Invocation, args: list[Any]) -> dict[str, Any]:
    call.arity(args, 0)
    return call.scope.subscription()


def tenant(call: Invocation, args: list[Any]) -> dict[str, Any]:
    call.arity(args, 0)
    return call.scope.tenant()


def deployment(call: Invocation, args: list[Any]) -> dict[str, Any]:
    call.arity(args, 0)
    return call.scope.deployment()


def environment(call: Invocation, args: list[Any]) -> dict[str, Any]:
    call.arity(args, 0)
    return call.scope.environment()


def copy_index(call: Invocation, args: list[Any]) -> int:
    """``copyIndex()``, ``copyIndex(offset)``, ``copyIndex('loop')``, ``copyIndex('loop', offset)``."""
    call.arity(args, 0, 2)
    loop: str | None = None
    offset = 0
    if len(args) == 2:
        loop = call.expect(args, 0, *_TEXT)
        offset = call.expect(args, 1, "Integer")
    elif len(args) == 1:
        if isinstance(args[0], str):
            loop = args[0]
        else:
            offset = call.expect(args, 0, "Integer", "String")
    return call.scope.copy_index(loop, offset)


def reference(call: Invocation, args: list[Any]) -> Any:
    """``reference(resourceNameOrId, [apiVersion], ['Full'])``: the resource's properties, or the whole resource."""
    call.arity(args, 1, 3)
    resource = call.expect(args, 0, *_TEXT)
    api_version = call.expect(args, 1, *_TEXT) if len(args) > 1 else None
    full = False
    if len(args) == 3:
        if str(call.expect(args, 2, *_TEXT)).lower() != "full":
            raise call.error(f"the third parameter must be 'Full', not '{args[2]}'")
        full = True
    return call.scope.reference(resource, api_version, full)


def list_action(call: Invocation, args: list[Any]) -> Any:
    """``listKeys(resourceId, apiVersion, [functionValues])`` and every other ``list*``: a POST to the resource."""
    call.arity(args, 2, 3)
    resource_id = call.expect(args, 0, *_TEXT)
    api_version = call.expect(args, 1, *_TEXT)
    body = args[2] if len(args) == 3 else None
    return call.scope.list_action(resource_id, api_version, call.name, body)


def _type_and_names(call: Invocation, args: list[str], start: int) -> str:
    """``/providers/{ns}/{type}/{name}[/{type}/{name}...]``; a trailing ``/`` on the type is ignored."""
    segments = args[start].rstrip("/").split("/")
    names = args[start + 1 :]
    types = segments[1:]
    if len(segments) < 2 or not all(segments):
        raise call.error(f"the type '{args[start]}' is not a valid fully qualified resource type")
    if len(names) != len(types):
        raise TemplateError(
            f"Unable to evaluate template language function '{call.name}': the type '{args[start]}' requires "
            f"'{len(types)}' resource name argument(s). {USAGE}"
        )
    path = f"/providers/{segments[0]}"
    for kind, name in zip(types, names, strict=True):
        path += f"/{kind}/{name}"
    return path


def _split(call: Invocation, args: list[Any], most_leading: int) -> tuple[list[str], int]:
    """All arguments as strings, and the index of the resource type: the first argument containing '/'."""
    call.arity(args, 2, -1)
    strings = [call.expect(args, i, *_TEXT) for i in range(len(args))]
    start = next((i for i, arg in enumerate(strings) if "/" in arg), -1)
    if start < 0 or start > most_leading:
        raise call.error("the resource type is missing or comes after too many scope arguments")
    return strings, start


def resource_id(call: Invocation, args: list[Any]) -> str:
    """``resourceId([subscriptionId], [resourceGroupName], resourceType, name1, ...)``."""
    strings, start = _split(call, args, 2)
    subscription_id = strings[0] if start == 2 else call.scope.subscription()["subscriptionId"]
    group = strings[start - 1] if start >= 1 else call.scope.resource_group()["name"]
    return f"/subscriptions/{subscription_id}/resourceGroups/{group}" + _type_and_names(call, strings, start)


def subscription_resource_id(call: Invocation, args: list[Any]) -> str:
    """``subscriptionResourceId([subscriptionId], resourceType, name1, ...)``."""
    strings, start = _split(call, args, 1)
    subscription_id = strings[0] if start == 1 else call.scope.subscription()["subscriptionId"]
    return f"/subscriptions/{subscription_id}" + _type_and_names(call, strings, start)


def tenant_resource_id(call: Invocation, args: list[Any]) -> str:
    """``tenantResourceId(resourceType, name1, ...)``."""
    strings, start = _split(call, args, 0)
    return _type_and_names(call, strings, start)


def extension_resource_id(call: Invocation, args: list[Any]) -> str:
    """``extensionResourceId(resourceId, resourceType, name1, ...)``: an extension resource under any scope."""
    call.arity(args, 3, -1)
    strings = [call.expect(args, i, *_TEXT) for i in range(len(args))]
    return strings[0].rstrip("/") + _type_and_names(call, strings, 1)


FUNCTIONS: dict[str, Impl] = {
    "copyIndex": copy_index,
    "deployment": deployment,
    "environment": environment,
    "extensionResourceId": extension_resource_id,
    "parameters": parameters,
    "reference": reference,
    "resourceGroup": resource_group,
    "resourceId": resource_id,
    "subscription": subscription,
    "subscriptionResourceId": subscription_resource_id,
    "tenant": tenant,
    "tenantResourceId": tenant_resource_id,
    "variables": variables,
}
