"""Event Grid system topics on a resource group and the product's webhook subscription on them, as the receiver
(receiver/) expects it: the writes the product acts on, delivered to ``<receiver public url>/eventgrid`` with the
static delivery attributes ``X-Ama-Customer`` (the catalog customer) and ``X-Ama-Delivery-Key`` (a secret).

GET never shows a secret attribute's value (nor an endpoint's query string): ``getDeliveryAttributes`` is the only
read of it, so comparing what is there with what is wanted takes both reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import (
    DeliveryAttributeMapping,
    EventSubscription,
    EventSubscriptionFilter,
    RetryPolicy,
    StaticDeliveryAttributeMapping,
    StringInAdvancedFilter,
    SystemTopic,
    WebHookEventSubscriptionDestination,
)

from .identities import same_id

RESOURCE_GROUP_TOPIC = "Microsoft.Resources.ResourceGroups"
WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
OPERATION_KEY = "data.operationName"
# The writes receiver/mapping.py turns into Prefect events.
OPERATIONS = (
    "Microsoft.ContainerService/managedClusters/agentPools/write",
    "Microsoft.ContainerService/managedClusters/write",
    "Microsoft.Compute/virtualMachineScaleSets/write",
)
CUSTOMER_HEADER = "X-Ama-Customer"
KEY_HEADER = "X-Ama-Delivery-Key"
SCHEMA = "EventGridSchema"


def topic_name(resource_group: str) -> str:
    """The product's system topic on ``resource_group`` (names are unique per resource group; 3-128 characters)."""
    return f"ama-events-{resource_group}"[:128].rstrip("-")


def subscription_name(customer: str) -> str:
    """The product's event subscription for ``customer`` (3-64 characters: letters, digits, hyphens)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in customer.lower())
    return f"ama-onboarding-{cleaned}"[:64].rstrip("-")


@dataclass(frozen=True)
class WantedSubscription:
    """The subscription the receiver needs for one customer."""

    endpoint_url: str
    customer: str
    key: str = field(repr=False)

    def attributes(self) -> list[StaticDeliveryAttributeMapping]:
        return [
            StaticDeliveryAttributeMapping(name=CUSTOMER_HEADER, value=self.customer, is_secret=False),
            StaticDeliveryAttributeMapping(name=KEY_HEADER, value=self.key, is_secret=True),
        ]

    def body(self) -> EventSubscription:
        mappings: list[DeliveryAttributeMapping] = [*self.attributes()]
        return EventSubscription(
            destination=WebHookEventSubscriptionDestination(
                endpoint_url=self.endpoint_url,
                max_events_per_batch=1,
                preferred_batch_size_in_kilobytes=64,
                delivery_attribute_mappings=mappings,
            ),
            filter=EventSubscriptionFilter(
                included_event_types=[WRITE_SUCCESS],
                advanced_filters=[StringInAdvancedFilter(key=OPERATION_KEY, values=list(OPERATIONS))],
            ),
            event_delivery_schema=SCHEMA,
            retry_policy=RetryPolicy(max_delivery_attempts=30, event_time_to_live_in_minutes=1440),
        )

    def differences(
        self, current: EventSubscription, attributes: list[DeliveryAttributeMapping]
    ) -> list[str]:
        """What in ``current`` (GET) and its ``attributes`` (getDeliveryAttributes) is not as wanted; never a
        secret's value, only that it differs."""
        found: list[str] = []
        if current.provisioning_state != "Succeeded":
            found.append(f"provisioning state {current.provisioning_state}")
        destination = current.destination
        if not isinstance(destination, WebHookEventSubscriptionDestination) or (
            destination.endpoint_base_url or ""
        ).rstrip("/") != self.endpoint_url.rstrip("/"):
            found.append("endpoint")
        event_filter = current.filter or EventSubscriptionFilter()
        if sorted(event_filter.included_event_types or []) != [WRITE_SUCCESS]:
            found.append("event types")
        if _operations(event_filter) != sorted(OPERATIONS) or len(event_filter.advanced_filters or []) != 1:
            found.append("operation filter")
        if current.event_delivery_schema != SCHEMA:
            found.append("schema")
        have = {(a.name or "").lower(): a for a in attributes}
        for wanted in self.attributes():
            mapping = have.pop((wanted.name or "").lower(), None)
            if (
                not isinstance(mapping, StaticDeliveryAttributeMapping)
                or mapping.value != wanted.value
                or bool(mapping.is_secret) != bool(wanted.is_secret)
            ):
                found.append(f"delivery attribute {wanted.name}")
        found += [f"delivery attribute {a.name} (not ours)" for a in have.values()]
        return found


def _operations(event_filter: EventSubscriptionFilter) -> list[str]:
    for advanced in event_filter.advanced_filters or []:
        if isinstance(advanced, StringInAdvancedFilter) and advanced.key == OPERATION_KEY:
            return sorted(advanced.values or [])
    return []


def topics_on(client: EventGridManagementClient, resource_group: str, source_id: str) -> list[SystemTopic]:
    """The resource group's system topics whose source is ``source_id`` (Azure allows one per source)."""
    return [
        t
        for t in client.system_topics.list_by_resource_group(resource_group_name=resource_group)
        if same_id(t.source or "", source_id) and (t.topic_type or "").lower() == RESOURCE_GROUP_TOPIC.lower()
    ]


def create_topic(
    client: EventGridManagementClient, resource_group: str, source_id: str, *, timeout_s: float
) -> SystemTopic:
    info = SystemTopic(location="global", source=source_id, topic_type=RESOURCE_GROUP_TOPIC)
    poller = client.system_topics.begin_create_or_update(
        resource_group_name=resource_group,
        system_topic_name=topic_name(resource_group),
        system_topic_info=info,
    )
    return poller.result(timeout=timeout_s)


def delete_topic(
    client: EventGridManagementClient, resource_group: str, topic: str, *, timeout_s: float
) -> None:
    client.system_topics.begin_delete(resource_group_name=resource_group, system_topic_name=topic).result(
        timeout=timeout_s
    )


def subscriptions_of(
    client: EventGridManagementClient, resource_group: str, topic: str
) -> list[EventSubscription]:
    return list(
        client.system_topic_event_subscriptions.list_by_system_topic(
            resource_group_name=resource_group, system_topic_name=topic
        )
    )


def get_subscription(
    client: EventGridManagementClient, resource_group: str, topic: str, name: str
) -> EventSubscription | None:
    try:
        return client.system_topic_event_subscriptions.get(
            resource_group_name=resource_group, system_topic_name=topic, event_subscription_name=name
        )
    except ResourceNotFoundError:
        return None


def delivery_attributes(
    client: EventGridManagementClient, resource_group: str, topic: str, name: str
) -> list[DeliveryAttributeMapping]:
    listed = client.system_topic_event_subscriptions.get_delivery_attributes(
        resource_group_name=resource_group, system_topic_name=topic, event_subscription_name=name
    )
    return list(listed.value or [])


def put_subscription(
    client: EventGridManagementClient,
    resource_group: str,
    topic: str,
    name: str,
    wanted: WantedSubscription,
    *,
    timeout_s: float,
) -> EventSubscription:
    """Create or replace the subscription; the operation ends after Event Grid's validation handshake."""
    poller = client.system_topic_event_subscriptions.begin_create_or_update(
        resource_group_name=resource_group,
        system_topic_name=topic,
        event_subscription_name=name,
        event_subscription_info=wanted.body(),
    )
    return poller.result(timeout=timeout_s)


def delete_subscription(
    client: EventGridManagementClient, resource_group: str, topic: str, name: str, *, timeout_s: float
) -> None:
    client.system_topic_event_subscriptions.begin_delete(
        resource_group_name=resource_group, system_topic_name=topic, event_subscription_name=name
    ).result(timeout=timeout_s)
