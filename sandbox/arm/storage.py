"""Microsoft.Storage: storage accounts (HNS-enabled ADLS Gen2 accounts served by the sandbox's storage front)."""

from __future__ import annotations

import time
from typing import Any

from ..state import World
from .base import RG, SUB, ArmRouter, now_iso, read_handlers

SA_TYPE = "Microsoft.Storage/storageAccounts"
SA_READ = f"{SA_TYPE}/read"


def storage_account_body(world: World, resource_id: str, location: str) -> dict[str, Any]:
    name = resource_id.rstrip("/").rsplit("/", 1)[-1]
    endpoint = f"{world.urls['storage'].rstrip('/')}/{name}/"
    return {
        "id": resource_id,
        "name": name,
        "type": SA_TYPE,
        "location": location,
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "tags": {},
        "properties": {
            "isHnsEnabled": True,
            "supportsHttpsTrafficOnly": True,
            "accessTier": "Hot",
            "provisioningState": "Succeeded",
            "creationTime": now_iso(time.time()),
            "primaryLocation": location,
            "statusOfPrimary": "available",
            "primaryEndpoints": {"blob": endpoint, "dfs": endpoint},
        },
    }


get_account, list_in_group, list_in_subscription = read_handlers(SA_TYPE, SA_READ)


def register(router: ArmRouter) -> None:
    router.add("GET", SUB + r"/providers/Microsoft\.Storage/storageAccounts", list_in_subscription)
    router.add("GET", RG + r"/providers/Microsoft\.Storage/storageAccounts", list_in_group)
    router.add("GET", RG + r"/providers/Microsoft\.Storage/storageAccounts/(?P<name>[^/]+)", get_account)
