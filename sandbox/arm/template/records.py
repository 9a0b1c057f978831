"""The stored ``Microsoft.Resources/deployments`` resource and its deployment operations, shaped as ARM's.

Shapes: azure-rest-api-specs ``specification/resources/resource-manager/Microsoft.Resources/stable/2024-03-01/
resources.json`` (``DeploymentExtended``, ``DeploymentOperation``) and the Azure CLI's recordings of
``az deployment group create`` (``command_modules/resource/tests/latest/recordings/test_group_deployment_lite.yaml``).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from ..base import now_iso, rg_id

DEPLOYMENT_TYPE = "Microsoft.Resources/deployments"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "NoContent",
    400: "BadRequest",
    401: "Unauthorized",
}
_STATUS_TEXT |= {
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
}


def deployment_id(subscription_id: str, resource_group: str, name: str) -> str:
    return f"{rg_id(subscription_id, resource_group)}/providers/{DEPLOYMENT_TYPE}/{name}"


def template_hash(template: Any) -> str:
    """A stable 64-bit decimal, as ARM's ``templateHash`` looks (its own hash function is not published)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return str(int.from_bytes(digest[:8], "big") >> 1)


def iso_duration(seconds: float) -> str:
    return f"PT{max(seconds, 0.0):.7f}".rstrip("0").rstrip(".") + "S"


def new_record(
    resource_id: str, template: Any, parameters: dict[str, Any], *, mode: str, started: float | None = None
) -> dict[str, Any]:
    started = time.time() if started is None else started
    return {
        "id": resource_id,
        "name": resource_id.rsplit("/", 1)[-1],
        "type": DEPLOYMENT_TYPE,
        "properties": {
            "templateHash": template_hash(template),
            "parameters": parameters,
            "mode": mode,
            "provisioningState": "Accepted",
            "timestamp": now_iso(started),
            "duration": "PT0S",
            "correlationId": str(uuid.uuid4()),
            "providers": [],
            "dependencies": [],
        },
        "_sandbox": {"operations": [], "started": started},
    }


def finish_record(
    record: dict[str, Any], *, outputs: dict[str, Any] | None = None, error: dict[str, Any] | None = None
) -> None:
    props = record["properties"]
    now = time.time()
    props["timestamp"] = now_iso(now)
    props["duration"] = iso_duration(now - record["_sandbox"]["started"])
    if error is None:
        props["provisioningState"] = "Succeeded"
        props["outputs"] = outputs or {}
        props["outputResources"] = [
            {"id": op["properties"]["targetResource"]["id"]}
            for op in record["_sandbox"]["operations"]
            if op["properties"]["provisioningState"] == "Succeeded"
        ]
    else:
        props["provisioningState"] = "Failed"
        props["error"] = error


def add_operation(
    record: dict[str, Any],
    *,
    target_id: str,
    target_type: str,
    started: float,
    status: int,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``DeploymentOperation`` (a resource's PUT, with its outcome)."""
    operation_id = uuid.uuid4().hex[:16].upper()
    properties: dict[str, Any] = {
        "provisioningOperation": "Create",
        "provisioningState": "Failed" if error else "Succeeded",
        "timestamp": now_iso(),
        "duration": iso_duration(time.time() - started),
        "trackingId": str(uuid.uuid4()),
        "serviceRequestId": str(uuid.uuid4()),
        "statusCode": _STATUS_TEXT.get(status, str(status)),
        "targetResource": {
            "id": target_id,
            "resourceType": target_type,
            "resourceName": target_id.rsplit("/", 1)[-1],
        },
    }
    if error:
        properties["statusMessage"] = {"status": "Failed", "error": error}
    operation = {
        "id": f"{record['id']}/operations/{operation_id}",
        "operationId": operation_id,
        "properties": properties,
    }
    record["_sandbox"]["operations"].append(operation)
    return operation
