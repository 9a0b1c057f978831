"""The world every sandbox starts with: the publisher's tenant, principal, subscription and app definition."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from . import authz
from .state import Principal, RoleAssignment, Subscription, Tenant, World, new_guid

PUBLISHER_TENANT_ID = "00000000-0000-4000-8000-00000000a001"
PUBLISHER_SUBSCRIPTION_ID = "00000000-0000-4000-8000-00000000b001"
APPLICATION_DEFINITION_ID = (
    f"/subscriptions/{PUBLISHER_SUBSCRIPTION_ID}/resourceGroups/publisher-rg"
    "/providers/Microsoft.Solutions/applicationDefinitions/ama-aks"
)
PUBLISHER_RG_ID = f"/subscriptions/{PUBLISHER_SUBSCRIPTION_ID}/resourceGroups/publisher-rg"
# The definition of the package before 1.2.0 (templates/1.1.0/), for customers still on it.
PREVIOUS_DEFINITION_ID = (
    f"{PUBLISHER_RG_ID}/providers/Microsoft.Solutions/applicationDefinitions/ama-aks-1.1.0"
)
DEFAULT_LOCATION = "westus"
# The package this repository ships: the definition carries its template inline.
PACKAGE_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "mainTemplate.json"
PREVIOUS_PACKAGE_TEMPLATE = PACKAGE_TEMPLATE.parent / "1.1.0" / "mainTemplate.json"


def seed_world(world: World) -> None:
    with world.lock:
        for role in authz.BUILTIN_ROLES:
            world.role_definitions[role.id] = role
        world.tenants[PUBLISHER_TENANT_ID] = Tenant(PUBLISHER_TENANT_ID, "publisher", is_publisher=True)
        publisher = world.add_principal(
            Principal(
                object_id=new_guid(),
                tenant_id=PUBLISHER_TENANT_ID,
                kind="ServicePrincipal",
                client_id=new_guid(),
                display_name="ama-aks-publisher",
                secret=secrets.token_urlsafe(32),
                multi_tenant=True,
            )
        )
        world.publisher = publisher
        world.subscriptions[PUBLISHER_SUBSCRIPTION_ID] = Subscription(
            PUBLISHER_SUBSCRIPTION_ID, PUBLISHER_TENANT_ID, "publisher"
        )
        sub_scope = f"/subscriptions/{PUBLISHER_SUBSCRIPTION_ID}"
        owner = RoleAssignment(
            scope=sub_scope,
            name=new_guid(),
            role_definition_id=authz.role_definition_id(PUBLISHER_SUBSCRIPTION_ID, authz.OWNER),
            principal_id=publisher.object_id,
            principal_type="ServicePrincipal",
            created_by="seed",
            created_at=time.time() - 3600,
        )
        authz.add_assignment(world, owner)
        world.put(
            {
                "id": PUBLISHER_RG_ID,
                "name": "publisher-rg",
                "type": "Microsoft.Resources/resourceGroups",
                "location": DEFAULT_LOCATION,
                "tags": {},
                "properties": {"provisioningState": "Succeeded"},
            }
        )
        for definition_id, package in (
            (APPLICATION_DEFINITION_ID, PACKAGE_TEMPLATE),
            (PREVIOUS_DEFINITION_ID, PREVIOUS_PACKAGE_TEMPLATE),
        ):
            world.put(_definition(definition_id, package.read_text(), publisher.object_id))


def _definition(definition_id: str, template_text: str, publisher_id: str) -> dict[str, object]:
    """A service catalog definition of one package, the publisher its Owner."""
    return {
        "id": definition_id,
        "name": definition_id.rsplit("/", 1)[-1],
        "type": "Microsoft.Solutions/applicationDefinitions",
        "location": DEFAULT_LOCATION,
        "properties": {
            "lockLevel": "ReadOnly",
            "displayName": "AKS managed application",
            "description": "Deploys AKS, a user-assigned identity and an ADLS Gen2 account (the seed template)",
            "authorizations": [{"principalId": publisher_id, "roleDefinitionId": authz.OWNER}],
            "mainTemplate": json.loads(template_text),
            "provisioningState": "Succeeded",
        },
        "_sandbox": {"main_template_text": template_text},
    }
