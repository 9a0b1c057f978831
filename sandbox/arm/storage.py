"""Microsoft.Storage: storage accounts (HNS-enabled ADLS Gen2 accounts served by the sandbox's storage front).

PUT creates an account as the storage resource provider does: 202 Accepted with a ``Location`` to poll, the
name checked (3-24 lower-case letters and digits) and unique across Azure (``StorageAccountAlreadyTaken``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..httpd import Response, json_response
from ..state import World
from .base import (
    RG,
    SUB,
    ArmError,
    ArmRouter,
    Call,
    now_iso,
    public,
    read_handlers,
    require_rg,
    require_write,
    resource_id_of,
    resources_of_type,
)
from .lro import Operations

SA_TYPE = "Microsoft.Storage/storageAccounts"
SA_READ = f"{SA_TYPE}/read"
_NAME = re.compile(r"^[a-z0-9]{3,24}$")


def storage_account_body(
    world: World, resource_id: str, location: str, *, hns: bool = True, tags: dict[str, str] | None = None
) -> dict[str, Any]:
    name = resource_id.rstrip("/").rsplit("/", 1)[-1]
    endpoint = f"{world.urls['storage'].rstrip('/')}/{name}/"
    return {
        "id": resource_id,
        "name": name,
        "type": SA_TYPE,
        "location": location,
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "tags": tags or {},
        "properties": {
            "isHnsEnabled": hns,
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


def put_account(call: Call, ops: Operations) -> Response:
    account_id = resource_id_of(call, SA_TYPE)
    name = call.params["name"]
    require_rg(call)
    require_write(call, f"{SA_TYPE}/write", account_id)
    body = call.body()
    if not _NAME.match(name):
        raise ArmError(
            400,
            "AccountNameInvalid",
            f"{name} is not a valid storage account name. Storage account name must be between 3 and 24 "
            "characters in length and use numbers and lower-case letters only.",
        )
    with call.world.lock:
        existing = call.world.get(account_id)
        if existing is not None:
            existing["tags"] = body.get("tags", existing.get("tags") or {})
            return json_response(public(existing), 200)
        if any(a["name"] == name for a in resources_of_type(call.world, SA_TYPE)):
            raise ArmError(
                409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken."
            )
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        hns = bool((body.get("properties") or {}).get("isHnsEnabled", False))
        account = call.world.put(
            storage_account_body(
                call.world, account_id, str(body["location"]), hns=hns, tags=body.get("tags")
            )
        )
    call.world.publish("storage.created", account_id=account_id, name=name)
    op = ops.start("storage.create", 0.0, lambda: public(account))
    return json_response(None, 202, **ops.headers(call, op, location=True))


def register(router: ArmRouter, ops: Operations) -> None:
    one = RG + r"/providers/Microsoft\.Storage/storageAccounts/(?P<name>[^/]+)"
    router.add("GET", SUB + r"/providers/Microsoft\.Storage/storageAccounts", list_in_subscription)
    router.add("GET", RG + r"/providers/Microsoft\.Storage/storageAccounts", list_in_group)
    router.add("GET", one, get_account)
    router.add("PUT", one, lambda call: put_account(call, ops))
