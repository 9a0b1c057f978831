"""The world every sandbox starts with: the publisher's tenant, principal, subscription and app definition."""

from __future__ import annotations

from .state import World

PUBLISHER_TENANT_ID = "00000000-0000-4000-8000-00000000a001"
PUBLISHER_SUBSCRIPTION_ID = "00000000-0000-4000-8000-00000000b001"
APPLICATION_DEFINITION_ID = (
    f"/subscriptions/{PUBLISHER_SUBSCRIPTION_ID}/resourceGroups/publisher-rg"
    "/providers/Microsoft.Solutions/applicationDefinitions/ama-aks"
)


def seed_world(world: World) -> None:
    raise NotImplementedError("filled in by the ARM work")
