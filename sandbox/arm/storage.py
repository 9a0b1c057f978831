"""Microsoft.Storage: storage accounts (HNS-enabled ADLS Gen2 accounts served by the sandbox's storage front)."""

from __future__ import annotations

import time
from typing import Any

from ..httpd import Response, json_response
from ..state import World
from .base import (
    RG,
    SUB,
    ArmRouter,
    Call,
    now_iso,
    paged,
    public,
    require,
    require_resource,
    require_rg,
    resources_of_type,
    visible,
)

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


def _sa_id(call: Call) -> str:
    p = call.params
    return f"/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/{SA_TYPE}/{p['name']}"


def get_account(call: Call) -> Response:
    require(call, SA_READ, _sa_id(call))
    return json_response(public(require_resource(call, _sa_id(call), SA_TYPE)))


def list_in_group(call: Call) -> Response:
    rg = require_rg(call)
    require(call, SA_READ, rg["id"])
    return paged(call, call.world.children(rg["id"], SA_TYPE))


def list_in_subscription(call: Call) -> Response:
    accounts = resources_of_type(call.world, SA_TYPE, f"/subscriptions/{call.params['sub']}")
    return paged(call, visible(call, SA_READ, accounts))


def register(router: ArmRouter) -> None:
    router.add("GET", SUB + r"/providers/Microsoft\.Storage/storageAccounts", list_in_subscription)
    router.add("GET", RG + r"/providers/Microsoft\.Storage/storageAccounts", list_in_group)
    router.add("GET", RG + r"/providers/Microsoft\.Storage/storageAccounts/(?P<name>[^/]+)", get_account)
