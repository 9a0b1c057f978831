"""What a template's expressions can see: parameters, variables, and the deployment's place in the world.

One ``TemplateScope`` per template (the top-level one, and one per nested template with
``expressionEvaluationOptions.scope: inner``; an ``outer`` nested template shares its parent's scope, as ARM
evaluates it in the parent's context).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...state import World
from ..base import rg_id
from .expressions import TemplateError, evaluate

ReferenceFn = Callable[[str, str | None, bool], Any]
ListFn = Callable[[str, str, str, Any], Any]

_TYPE_NAMES = {
    "string": "String",
    "securestring": "String",
    "int": "Integer",
    "bool": "Boolean",
    "object": "Object",
    "secureobject": "Object",
    "array": "Array",
}


def expected_type(declared: str) -> str:
    """The JToken type a parameter of ``declared`` type takes; ``TemplateError`` for an unknown type."""
    found = _TYPE_NAMES.get(declared.lower())
    if found is None:
        raise TemplateError(
            f"The parameter type '{declared}' is not valid. Valid types are: "
            "'string, securestring, int, bool, object, secureobject, array'."
        )
    return found


class TemplateScope:
    """The ``Scope`` the expression evaluator calls back into."""

    def __init__(
        self,
        world: World,
        *,
        subscription_id: str,
        resource_group: str,
        deployment: dict[str, Any],
        parameters: dict[str, Any],
        variables: dict[str, Any],
        reference: ReferenceFn,
        list_action: ListFn,
    ) -> None:
        self.world = world
        self.subscription_id = subscription_id
        self.resource_group_name = resource_group
        self._deployment = deployment
        self._parameters = {k.lower(): v for k, v in parameters.items()}
        self._variables_raw = {k.lower(): v for k, v in variables.items()}
        self._variables: dict[str, Any] = {}
        self._evaluating: set[str] = set()
        self._reference = reference
        self._list_action = list_action
        self.copy_indexes: dict[str | None, int] = {}

    def parameter(self, name: str) -> Any:
        if name.lower() not in self._parameters:
            raise TemplateError(
                f"The template parameter '{name}' is not found. Please see https://aka.ms/arm-syntax-parameters "
                "for usage details."
            )
        return self._parameters[name.lower()]

    def variable(self, name: str) -> Any:
        lname = name.lower()
        if lname in self._variables:
            return self._variables[lname]
        if lname not in self._variables_raw:
            raise TemplateError(
                f"The template variable '{name}' is not found. Please see https://aka.ms/arm-syntax-variables "
                "for usage details."
            )
        if lname in self._evaluating:
            raise TemplateError(f"The template variable '{name}' references itself (a circular reference).")
        self._evaluating.add(lname)
        try:
            value = evaluate(self._variables_raw[lname], self)
        finally:
            self._evaluating.discard(lname)
        self._variables[lname] = value
        return value

    def resource_group(self) -> dict[str, Any]:
        rid = rg_id(self.subscription_id, self.resource_group_name)
        body = self.world.get(rid) or {}
        found: dict[str, Any] = {
            "id": body.get("id", rid),
            "name": body.get("name", self.resource_group_name),
            "type": "Microsoft.Resources/resourceGroups",
            "location": body.get("location", ""),
            "tags": body.get("tags") or {},
            "properties": {"provisioningState": "Succeeded"},
        }
        if body.get("managedBy"):
            found["managedBy"] = body["managedBy"]
        return found

    def subscription(self) -> dict[str, Any]:
        sub = next(
            (s for s in self.world.subscriptions.values() if s.id.lower() == self.subscription_id.lower()),
            None,
        )
        if sub is None:
            raise TemplateError(f"The subscription '{self.subscription_id}' could not be found.")
        return {
            "id": f"/subscriptions/{sub.id}",
            "subscriptionId": sub.id,
            "tenantId": sub.tenant_id,
            "displayName": sub.display_name,
        }

    def tenant(self) -> dict[str, Any]:
        tenant_id = self.subscription()["tenantId"]
        tenant = self.world.tenants.get(tenant_id)
        return {"tenantId": tenant_id, "displayName": tenant.name if tenant else "", "countryCode": "US"}

    def deployment(self) -> dict[str, Any]:
        return self._deployment

    def environment(self) -> dict[str, Any]:
        """The sandbox cloud's endpoints in ``environment()``'s shape (AzureCloud's names and suffixes)."""
        urls = self.world.urls
        return {
            "name": "AzureCloud",
            "gallery": "https://gallery.azure.com/",
            "graph": "https://graph.windows.net/",
            "portal": "https://portal.azure.com",
            "graphAudience": "https://graph.windows.net/",
            "activeDirectoryDataLake": "https://datalake.azure.net/",
            "batch": "https://batch.core.windows.net/",
            "media": "https://rest.media.azure.net",
            "sqlManagement": "https://management.core.windows.net:8443/",
            "vmImageAliasDoc": "",
            "resourceManager": urls.get("arm", "https://management.azure.com/").rstrip("/") + "/",
            "authentication": {
                "loginEndpoint": urls.get("aad", "https://login.microsoftonline.com").rstrip("/") + "/",
                "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {
                "acrLoginServer": ".azurecr.io",
                "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
                "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
                "azureFrontDoorEndpointSuffix": "azurefd.net",
                "keyvaultDns": ".vault.azure.net",
                "sqlServerHostname": ".database.windows.net",
                "storage": "core.windows.net",
            },
        }

    def reference(self, resource: str, api_version: str | None, full: bool) -> Any:
        return self._reference(resource, api_version, full)

    def list_action(self, resource_id: str, api_version: str, action: str, body: Any) -> Any:
        return self._list_action(resource_id, api_version, action, body)

    def copy_index(self, loop: str | None, offset: int) -> int:
        key = loop.lower() if loop else None
        if key not in self.copy_indexes:
            where = f"copy loop '{loop}'" if loop else "a copy loop"
            raise TemplateError(
                f"The template function 'copyIndex' is not expected at this location: it is not inside {where}. "
                "Please see https://aka.ms/arm-copy for usage details."
            )
        return self.copy_indexes[key] + offset
