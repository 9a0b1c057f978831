"""The customer's Event Grid subscriptions: a system topic on the managed resource group and one on the node
resource group, each with the product's subscription delivering the writes the product acts on to the receiver
(agent pool and cluster writes in the first, the scale set writes AKS makes in the second: a new pool's scale
set, an upgrade that dropped identities).

Reads first and writes only what differs, so a re-run writes nothing. The managed resource group is written as the
publisher; the node resource group with the node resource group credential, and when that is refused (lockdown,
a deny assignment, a node role without Event Grid rights) the step says so and goes on: the watch still covers
those node pools. Skipped, with one line in the report, when no receiver URL is configured.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from azure.mgmt.eventgrid import EventGridManagementClient

from ..azure import eventgrid
from ..azure.eventgrid import WantedSubscription
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..deadline import remaining
from ..errors import OnboardingError, PermanentError
from ..redact import register_secret
from ..results import StepResult
from . import StepRecorder

STEP = "ensure_event_subscriptions"
SKIPPED = (
    "event subscription: skipped, ONBOARDING_RECEIVER_PUBLIC_URL is not set (the watch covers node pools)"
)
HANDSHAKE_FAILED = "url validation"  # Azure's error code when the endpoint fails the validation handshake
HANDSHAKE_HINT = (
    "the receiver must answer Event Grid's validation handshake at <ONBOARDING_RECEIVER_PUBLIC_URL>/eventgrid "
    "(python -m receiver) with the same ONBOARDING_RECEIVER_EVENTGRID_KEY as onboarding; or unset "
    "ONBOARDING_RECEIVER_PUBLIC_URL to leave node pools to the watch"
)


@dataclass(frozen=True)
class WatchedGroup:
    """A resource group whose writes the product subscribes to."""

    label: str
    name: str
    group_id: str
    node_rg: bool  # read and written with the node resource group credential


def watched_groups(cluster: ClusterInfo) -> list[WatchedGroup]:
    mrg = cluster.managed_resource_group_id
    mrg_name = mrg.rstrip("/").rsplit("/", 1)[-1]
    return [
        WatchedGroup(f"managed resource group {mrg_name}", mrg_name, mrg, node_rg=False),
        WatchedGroup(
            f"node resource group {cluster.node_resource_group}",
            cluster.node_resource_group,
            cluster.node_resource_group_id,
            node_rg=True,
        ),
    ]


@contextlib.contextmanager
def node_rg_refusals(rec: StepRecorder, group: WatchedGroup, *, what: str, then: str) -> Iterator[None]:
    """In the node resource group, a 403 is reported as ``group: Azure refused what (code): then`` instead of
    raised."""
    try:
        yield
    except OnboardingError as exc:
        if not group.node_rg or exc.status != 403:
            raise
        rec.unchanged(f"{group.label}: Azure refused {what} ({exc.code or exc.status}): {then}")


def wanted_subscription(ctx: CustomerContext) -> WantedSubscription | None:
    """What the receiver needs, from settings; None when no receiver URL is configured."""
    settings = ctx.settings
    if not settings.receiver_public_url:
        return None
    if settings.receiver_eventgrid_key is None:
        raise PermanentError(
            "ONBOARDING_RECEIVER_PUBLIC_URL is set but ONBOARDING_RECEIVER_EVENTGRID_KEY is not",
            customer=ctx.spec.name,
            step=STEP,
            hint="set the same ONBOARDING_RECEIVER_EVENTGRID_KEY the receiver uses (it refuses deliveries "
            "without it)",
        )
    key = settings.receiver_eventgrid_key.get_secret_value()
    register_secret(key)
    return WantedSubscription(
        endpoint_url=f"{settings.receiver_public_url.rstrip('/')}/eventgrid", customer=ctx.spec.name, key=key
    )


def _topic(
    ctx: CustomerContext, rec: StepRecorder, client: EventGridManagementClient, group: WatchedGroup
) -> str | None:
    """The system topic on the group (the one there, else ours, created); None in a dry run that would create it."""
    with ctx.errors(STEP, f"list system topics in {group.label}"):
        found = eventgrid.topics_on(client, group.name, group.group_id)
    if found:
        rec.unchanged(f"{group.label}: system topic {found[0].name}")
        return str(found[0].name)
    name = eventgrid.topic_name(group.name)
    if not rec.dry_run:
        with ctx.errors(STEP, f"create system topic {name} on {group.label}"):
            eventgrid.create_topic(
                client, group.name, group.group_id, timeout_s=remaining(ctx.settings.sdk_call_timeout_s)
            )
    rec.changed(f"{group.label}: created system topic {name}", f"create system topic {name} on {group.label}")
    return None if rec.dry_run else name


def _subscription(
    ctx: CustomerContext,
    rec: StepRecorder,
    client: EventGridManagementClient,
    group: WatchedGroup,
    topic: str | None,
    wanted: WantedSubscription,
) -> None:
    name = eventgrid.subscription_name(ctx.spec.name)
    current = None
    if topic is not None:
        with ctx.errors(STEP, f"read event subscription {name} on {group.label}"):
            current = eventgrid.get_subscription(client, group.name, topic, name)
            attributes = (
                eventgrid.delivery_attributes(client, group.name, topic, name) if current is not None else []
            )
    if current is None:
        done, planned = (
            f"{group.label}: created event subscription {name}",
            f"create event subscription {name} on {group.label} to {wanted.endpoint_url}",
        )
    else:
        differs = wanted.differences(current, attributes)
        if not differs:
            rec.unchanged(f"{group.label}: event subscription {name} to {wanted.endpoint_url}")
            return
        done, planned = (
            f"{group.label}: updated event subscription {name} ({', '.join(differs)})",
            f"update event subscription {name} on {group.label} ({', '.join(differs)})",
        )
    if topic is not None and not rec.dry_run:
        _put(ctx, client, group, topic, name, wanted)
    rec.changed(done, planned)


def _put(
    ctx: CustomerContext,
    client: EventGridManagementClient,
    group: WatchedGroup,
    topic: str,
    name: str,
    wanted: WantedSubscription,
) -> None:
    try:
        with ctx.errors(STEP, f"write event subscription {name} on {group.label}"):
            eventgrid.put_subscription(
                client, group.name, topic, name, wanted, timeout_s=remaining(ctx.settings.sdk_call_timeout_s)
            )
    except PermanentError as exc:
        if (exc.code or "").lower() != HANDSHAKE_FAILED:
            raise
        exc.hint = HANDSHAKE_HINT
        raise exc.explain("the receiver did not pass Event Grid's validation handshake") from None


def ensure_event_subscriptions(
    ctx: CustomerContext, cluster: ClusterInfo, *, dry_run: bool = False
) -> StepResult:
    rec = StepRecorder(ctx, STEP, dry_run=dry_run)
    wanted = wanted_subscription(ctx)
    if wanted is None:
        rec.unchanged(SKIPPED)
        return rec.finish(skipped=True)
    ctx = ctx.for_cluster(cluster)
    for group in watched_groups(cluster):
        client = ctx.client(EventGridManagementClient, node_rg=group.node_rg)
        with node_rg_refusals(
            rec, group, what="the event subscription", then="the watch covers its node pools"
        ):
            topic = _topic(ctx, rec, client, group)
            _subscription(ctx, rec, client, group, topic, wanted)
    return rec.finish(
        endpoint=wanted.endpoint_url, subscription=eventgrid.subscription_name(ctx.spec.name), skipped=False
    )
