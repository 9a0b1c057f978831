"""Deliveries as Azure sends them to the receiver, built with the Azure SDK's own models: Event Grid schema events
serialised by ``EventGridEvent``, CloudEvents by ``azure.core.messaging.CloudEvent`` (sent through the SDK's
publisher), managed application notifications as the documented JSON (no SDK models them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, SystemEventNames

SUBSCRIPTION = "6c1f4c5e-7b1a-4a8e-9d42-0f3b1a2c3d4e"
TENANT = "0b7e5a7c-3c55-4f7e-a7a8-5d1c9a4e2f10"
MRG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/contoso-app-mrg"
NODE_RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/MC_contoso-app-mrg_aks_eastus"
CLUSTER = f"{MRG}/providers/Microsoft.ContainerService/managedClusters/aks"
AGENT_POOL_WRITE = "Microsoft.ContainerService/managedClusters/agentPools/write"
VMSS_WRITE = "Microsoft.Compute/virtualMachineScaleSets/write"
CLUSTER_WRITE = "Microsoft.ContainerService/managedClusters/write"


def write_data(resource_uri: str, operation: str) -> dict[str, Any]:
    """``data`` of a Microsoft.Resources.ResourceWriteSuccess event (Learn: "Azure Resource Manager as an Event
    Grid source"), without the authorization and claims blocks."""
    return {
        "correlationId": str(uuid.uuid4()),
        "operationName": operation,
        "resourceProvider": operation.split("/")[0],
        "resourceUri": resource_uri,
        "status": "Succeeded",
        "subscriptionId": SUBSCRIPTION,
        "tenantId": TENANT,
        "httpRequest": {"clientRequestId": str(uuid.uuid4()), "method": "PUT", "url": resource_uri},
    }


def write_event(resource_uri: str, operation: str, event_type: str | None = None) -> EventGridEvent:
    return EventGridEvent(
        subject=resource_uri,
        event_type=event_type or SystemEventNames.ResourceWriteSuccessEventName,
        data=write_data(resource_uri, operation),
        data_version="2",
        topic=MRG,
    )


def write_cloud_event(resource_uri: str, operation: str) -> CloudEvent[dict[str, Any]]:
    return CloudEvent(
        source=MRG,
        type=SystemEventNames.ResourceWriteSuccessEventName,
        subject=resource_uri,
        data=write_data(resource_uri, operation),
    )


def validation_event(code: str) -> EventGridEvent:
    return EventGridEvent(
        subject="",
        event_type=SystemEventNames.EventGridSubscriptionValidationEventName,
        data={
            "validationCode": code,
            "validationUrl": f"https://rp-eastus.eventgrid.azure.net/validate?code={code}",
        },
        data_version="2",
        topic=MRG,
    )


def grid_body(*events: EventGridEvent) -> list[dict[str, Any]]:
    """The Event Grid schema body: a JSON array of events."""
    return [event.serialize() for event in events]


def application_id(name: str = "contoso-app", group: str = "contoso-rg") -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Solutions/applications/{name}"


def notification(
    event_type: str,
    state: str,
    app_id: str | None = None,
    *,
    event_time: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A service catalog application's notification (Learn: "Azure managed applications with notifications")."""
    return {
        "eventType": event_type,
        "applicationId": app_id or application_id(),
        "eventTime": (event_time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "provisioningState": state,
        "applicationDefinitionId": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/publisher-rg/providers/"
        "Microsoft.Solutions/applicationDefinitions/ama-aks",
        **extra,
    }
