"""Microsoft.Solutions/applications without a beta SDK: the generic resources API for GET/PUT and
``send_request`` through the authenticated ARM pipeline for POST actions (``listTokens``, ``refreshPermissions``).

What the product passes to the package's template (templates/mainTemplate.json) is decided here, in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    map_error,
)
from azure.core.polling import LROPoller
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources.models import GenericResource

from ..models import CustomerSpec, PodIdentityMode
from .roles import NODE_ROLE_GUIDS, role_definition_id

SOLUTIONS_API_VERSION = "2021-07-01"
TERMINAL_STATES = {"succeeded", "failed", "canceled"}
_ERROR_MAP = {401: ClientAuthenticationError, 404: ResourceNotFoundError, 409: ResourceExistsError}


def application_id(spec: CustomerSpec) -> str:
    app = spec.managed_application
    return (
        f"/subscriptions/{spec.subscription_id}/resourceGroups/{app.resource_group}"
        f"/providers/Microsoft.Solutions/applications/{app.name}"
    )


def managed_resource_group_id(spec: CustomerSpec) -> str:
    return f"/subscriptions/{spec.subscription_id}/resourceGroups/{spec.managed_application.managed_resource_group_name}"


def identity_name(spec: CustomerSpec) -> str:
    """The application's user-assigned identity (template parameter ``identityName``)."""
    return f"{spec.managed_application.parameters.aks_name}-identity"


def expected_identity_id(spec: CustomerSpec) -> str:
    """Where the template puts the identity; the application's ``userAssignedIdentity`` output overrides it."""
    return (
        f"{managed_resource_group_id(spec)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"
        f"{identity_name(spec)}"
    )


def template_parameters(spec: CustomerSpec) -> dict[str, dict[str, Any]]:
    """The template's parameters in ARM form (``{"name": {"value": ...}}``)."""
    params = spec.managed_application.parameters
    mode = spec.pod_identity.mode
    values: dict[str, Any] = {
        "aksName": params.aks_name,
        "nodeResourceGroup": params.node_resource_group,
        "identityName": identity_name(spec),
        "identityNodeRoleDefinitionId": role_definition_id(
            spec.subscription_id, NODE_ROLE_GUIDS[spec.node_role]
        ),
        "assignKubeletRoles": mode is PodIdentityMode.AAD_POD_IDENTITY_STANDARD,
        "nodeCount": params.node_count,
        "crossTenant": params.cross_tenant,
        "enableWorkloadIdentity": mode is PodIdentityMode.WORKLOAD_IDENTITY,
    }
    return {name: {"value": value} for name, value in values.items()}


def application_body(spec: CustomerSpec, *, default_definition_id: str | None) -> dict[str, Any]:
    """The PUT body: a service catalog application (definition id) or a Marketplace one (plan)."""
    app = spec.managed_application
    properties: dict[str, Any] = {
        "managedResourceGroupId": managed_resource_group_id(spec),
        "parameters": template_parameters(spec),
    }
    body: dict[str, Any] = {"location": spec.location, "properties": properties}
    if app.plan is not None:
        body["kind"] = "MarketPlace"
        body["plan"] = app.plan.model_dump()
    else:
        body["kind"] = "ServiceCatalog"
        properties["applicationDefinitionId"] = app.definition_id or default_definition_id
    return body


def state_of(app: GenericResource) -> str:
    return str((app.properties or {}).get("provisioningState", ""))


def outputs_of(app: GenericResource) -> dict[str, Any]:
    """``properties.outputs`` flattened to ``{name: value}``."""
    raw = (app.properties or {}).get("outputs") or {}
    return {k: v.get("value") if isinstance(v, dict) and "value" in v else v for k, v in raw.items()}


def get_application(client: ResourceManagementClient, app_id: str) -> GenericResource | None:
    """The application, or None only when ARM says the application itself is not there (``ResourceNotFound``).

    Every other 404 (``SubscriptionNotFound``, ``ResourceGroupNotFound``, a path ARM does not serve) says the
    request never reached it, so nothing is known about the application: those are raised."""
    try:
        return client.resources.get_by_id(app_id, api_version=SOLUTIONS_API_VERSION)
    except ResourceNotFoundError as exc:
        if str(getattr(exc.error, "code", None) or "").lower() == "resourcenotfound":
            return None
        raise


def begin_create(
    client: ResourceManagementClient, app_id: str, body: dict[str, Any]
) -> LROPoller[GenericResource]:
    return client.resources.begin_create_or_update_by_id(app_id, body, api_version=SOLUTIONS_API_VERSION)


def _post(
    client: ResourceManagementClient,
    app_id: str,
    action: str,
    body: dict[str, Any] | None = None,
    *,
    query: dict[str, str] | None = None,
) -> HttpResponse:
    """POST ``{app_id}/{action}`` through the client's pipeline; ARM errors raised as azure-core exceptions."""
    request = HttpRequest(
        "POST",
        f"{app_id}/{action}",
        params={"api-version": SOLUTIONS_API_VERSION, **(query or {})},
        json=body if body is not None else {},
    )
    response = client.send_request(request)
    _raise_for_status(response)
    return response


def _raise_for_status(response: HttpResponse) -> None:
    if response.status_code >= 400:
        map_error(response.status_code, response, _ERROR_MAP)
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)


def post_action(
    client: ResourceManagementClient, app_id: str, action: str, body: dict[str, Any] | None = None
) -> Any:
    """POST ``{app_id}/{action}``; returns the parsed JSON (None when empty)."""
    text = _post(client, app_id, action, body).text()
    return json.loads(text) if text else None


@dataclass(frozen=True)
class Operation:
    """A long-running POST action: where to poll it (None when it finished in its first answer)."""

    async_operation: str | None
    location: str | None

    @property
    def done(self) -> bool:
        return self.async_operation is None and self.location is None


def begin_refresh_permissions(
    client: ResourceManagementClient, app_id: str, *, target_version: str | None = None
) -> Operation:
    """POST ``refreshPermissions`` (``targetVersion`` when given): an LRO that re-applies the publisher's
    authorizations from the definition or plan (not the template's role assignments)."""
    query = {"targetVersion": target_version} if target_version else None
    response = _post(client, app_id, "refreshPermissions", query=query)
    if response.status_code not in (201, 202):
        return Operation(None, None)
    headers = response.headers
    return Operation(headers.get("Azure-AsyncOperation"), headers.get("Location"))


def operation_status(client: ResourceManagementClient, operation: Operation) -> tuple[str, str | None]:
    """One poll, in ARMPolling's order: the Azure-AsyncOperation status, else the Location (202 = running).

    Returns (status, error text of a failed operation or None).
    """
    if operation.done:
        return "Succeeded", None
    if operation.async_operation:
        response = client.send_request(HttpRequest("GET", operation.async_operation))
        _raise_for_status(response)
        body = json.loads(response.text() or "{}")
        error = body.get("error") or {}
        text = f"{error.get('code', '?')}: {error.get('message', 'no details')}" if error else None
        return str(body.get("status") or "InProgress"), text
    response = client.send_request(HttpRequest("GET", str(operation.location)))
    _raise_for_status(response)
    return ("InProgress" if response.status_code == 202 else "Succeeded"), None


def list_tokens(
    client: ResourceManagementClient, app_id: str, audience: str, identity_ids: list[str]
) -> list[dict[str, Any]]:
    """POST ``listTokens``: tokens for the application's identities, for one audience."""
    body = {"authorizationAudience": audience, "userAssignedIdentities": identity_ids}
    result = post_action(client, app_id, "listTokens", body) or {}
    return list(result.get("value", []))
