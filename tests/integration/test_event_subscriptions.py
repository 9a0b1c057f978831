"""Onboarding keeps each customer's Event Grid subscriptions true (issue 14 item 4), through the sandbox's Event
Grid with the real receiver (``python -m receiver``) answering the validation handshake: it creates the system
topics and subscriptions with the filter and delivery attributes, a re-run writes nothing, a dry run plans, no
receiver URL skips, a changed secret updates, a refused node resource group is reported, offboarding removes only
what the product made."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import StringInAdvancedFilter

from onboarding.azure import eventgrid
from onboarding.cluster import ClusterInfo
from onboarding.context import CustomerContext
from onboarding.errors import PermanentError
from onboarding.operations.offboard import offboard_customer
from onboarding.settings import Settings
from onboarding.steps.discover import discover_cluster
from onboarding.steps.events import HANDSHAKE_HINT, SKIPPED, ensure_event_subscriptions
from sandbox.client import SandboxProcess
from sandbox.httpd import free_port
from tools.cloud_actions import add_agent_pool, wait_for
from tools.customers import register_customer
from tools.receiver_process import receiver_process

from .adopted import adopted_spec

pytestmark = pytest.mark.integration

KEY = "egkey-" + uuid.uuid4().hex
NEW_KEY = "egkey-" + uuid.uuid4().hex


@dataclass
class RunningReceiver:
    url: str

    def counts(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()


def _receiver_env(work: Path, key: str) -> dict[str, str]:
    """No Prefect server: the receiver answers the handshake and spools what it accepts (forwarding waits)."""
    return {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        "ONBOARDING_RECEIVER_EVENTGRID_KEY": key,
        "ONBOARDING_RECEIVER_SPOOL_PATH": str(work / "spool.db"),
        "ONBOARDING_RECEIVER_FORWARD_RETRY_MAX_S": "1",
    }


@contextlib.contextmanager
def _running(work: Path, key: str, port: int) -> Iterator[RunningReceiver]:
    work.mkdir(parents=True, exist_ok=True)
    with receiver_process(
        _receiver_env(work, key), port=port, log=work / "receiver.log", secrets=(KEY, NEW_KEY)
    ):
        yield RunningReceiver(f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    with _running(tmp_path_factory.mktemp("receiver"), KEY, free_port()) as running:
        yield running


def _settings(receiver: RunningReceiver | None, key: str = KEY) -> Settings:
    values: dict[str, Any] = {
        "poll_interval_s": 0.05,
        "retry_max_delay_s": 0.5,
        "propagation_budget_s": 30.0,
        "deployment_timeout_s": 60.0,
    }
    if receiver is not None:
        values |= {"receiver_public_url": receiver.url, "receiver_eventgrid_key": key}
    return Settings(**values)


def _customer(
    sandbox: SandboxProcess, name: str, settings: Settings, **extra: Any
) -> tuple[CustomerContext, ClusterInfo]:
    spec = adopted_spec(name, **extra)
    register_customer(sandbox, spec)
    ctx = CustomerContext(spec, settings)
    return ctx, discover_cluster(ctx)


@pytest.fixture(scope="module")
def owner(sandbox: SandboxProcess, receiver: RunningReceiver) -> tuple[CustomerContext, ClusterInfo]:
    """A customer whose identity holds Owner on the node resource group (so both groups get a topic)."""
    return _customer(sandbox, "evowner", _settings(receiver), node_role="Owner")


def _groups(cluster: ClusterInfo) -> list[tuple[str, str, bool]]:
    node = cluster.node_resource_group
    mrg = cluster.managed_resource_group_id.rsplit("/", 1)[-1]
    return [(f"managed resource group {mrg}", mrg, False), (f"node resource group {node}", node, True)]


def test_creates_topics_and_subscriptions_with_filter_and_attributes(
    sandbox: SandboxProcess, receiver: RunningReceiver, owner: tuple[CustomerContext, ClusterInfo]
) -> None:
    ctx, cluster = owner
    name = eventgrid.subscription_name("evowner")
    result = ensure_event_subscriptions(ctx, cluster)
    print(f"\nfigure ensure_event_subscriptions_first_s {result.duration_s:.3f}")
    expected: list[str] = []
    for label, group, node_rg in _groups(cluster):
        expected += [
            f"{label}: created system topic {eventgrid.topic_name(group)}",
            f"{label}: created event subscription {name}",
        ]
        grid = ctx.for_cluster(cluster).client(EventGridManagementClient, node_rg=node_rg)
        (topic,) = eventgrid.topics_on(
            grid, group, f"/subscriptions/{ctx.spec.subscription_id}/resourceGroups/{group}"
        )
        assert (topic.name, topic.location, topic.topic_type) == (
            eventgrid.topic_name(group),
            "global",
            "Microsoft.Resources.ResourceGroups",
        )
        made = eventgrid.get_subscription(grid, group, str(topic.name), name)
        assert made is not None and made.provisioning_state == "Succeeded"
        assert made.destination.endpoint_base_url == f"{receiver.url}/eventgrid"
        assert made.event_delivery_schema == "EventGridSchema"
        assert made.filter.included_event_types == ["Microsoft.Resources.ResourceWriteSuccess"]
        (operations,) = made.filter.advanced_filters
        assert isinstance(operations, StringInAdvancedFilter) and operations.key == "data.operationName"
        assert sorted(operations.values) == sorted(eventgrid.OPERATIONS)
        attributes = eventgrid.delivery_attributes(grid, group, str(topic.name), name)
        assert {(a.name, a.value, a.is_secret) for a in attributes} == {
            ("X-Ama-Customer", "evowner", False),
            ("X-Ama-Delivery-Key", KEY, True),
        }
    assert result.changed == expected
    assert KEY not in result.model_dump_json()

    # The subscriptions deliver: a new pool's writes reach the receiver, which takes them (the key is right).
    before = receiver.counts()
    add_agent_pool(sandbox, ctx.spec, "evpool")
    wait_for(
        lambda: (
            receiver.counts()["pending"] + receiver.counts()["sent"] >= before["pending"] + before["sent"] + 2
        ),
        what="the agent pool and scale set writes at the receiver",
    )


def test_second_run_writes_nothing(
    sandbox: SandboxProcess, owner: tuple[CustomerContext, ClusterInfo]
) -> None:
    ctx, cluster = owner
    ensure_event_subscriptions(ctx, cluster)
    mark = sandbox.mark()
    again = ensure_event_subscriptions(ctx, cluster)
    print(f"\nfigure ensure_event_subscriptions_rerun_s {again.duration_s:.3f}")
    print(sandbox.arm_figure("ensure_event_subscriptions_rerun", mark))
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []
    assert again.changed == [] and len(again.unchanged) == 4


def test_changed_secret_updates_the_subscriptions(sandbox: SandboxProcess, tmp_path: Path) -> None:
    """The receiver restarts with a new key at the same address; onboarding with the new key updates both
    subscriptions (the handshake passes only with the new key) and a re-run then writes nothing."""
    port = free_port()
    with _running(tmp_path / "old", KEY, port) as old:
        ctx, cluster = _customer(sandbox, "evrotate", _settings(old), node_role="Owner")
        ensure_event_subscriptions(ctx, cluster)
    with _running(tmp_path / "new", NEW_KEY, port) as new:
        rotated = CustomerContext(ctx.spec, _settings(new, NEW_KEY))
        name = eventgrid.subscription_name("evrotate")
        result = ensure_event_subscriptions(rotated, cluster)
        assert result.changed == [
            f"{label}: updated event subscription {name} (delivery attribute X-Ama-Delivery-Key)"
            for label, _, _ in _groups(cluster)
        ]
        assert NEW_KEY not in result.model_dump_json() and KEY not in result.model_dump_json()
        for _, group, node_rg in _groups(cluster):
            grid = rotated.for_cluster(cluster).client(EventGridManagementClient, node_rg=node_rg)
            attributes = eventgrid.delivery_attributes(grid, group, eventgrid.topic_name(group), name)
            assert ("X-Ama-Delivery-Key", NEW_KEY) in {(a.name, a.value) for a in attributes}
        mark = sandbox.mark()
        assert ensure_event_subscriptions(rotated, cluster).changed == []
        assert sandbox.arm_writes(mark, rotated.spec.subscription_id) == []


def test_dry_run_plans_without_writing_and_a_refused_node_rg_is_reported(
    sandbox: SandboxProcess, receiver: RunningReceiver
) -> None:
    """The default node role (Virtual Machine Contributor) has no Event Grid rights on the node resource group:
    the step says the watch covers it and goes on."""
    ctx, cluster = _customer(sandbox, "evplan", _settings(receiver))
    (mrg_label, mrg, _), (node_label, _, _) = _groups(cluster)
    name = eventgrid.subscription_name("evplan")
    mark = sandbox.mark()
    plan = ensure_event_subscriptions(ctx, cluster, dry_run=True)
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []
    assert plan.changed == [
        f"would create system topic {eventgrid.topic_name(mrg)} on {mrg_label}",
        f"would create event subscription {name} on {mrg_label} to {receiver.url}/eventgrid",
    ]
    assert plan.unchanged == [
        f"{node_label}: Azure refused the event subscription (AuthorizationFailed): the watch covers its node pools"
    ]
    applied = ensure_event_subscriptions(ctx, cluster)
    assert applied.changed == plan.as_applied and applied.unchanged == plan.unchanged


def test_locked_node_rg_is_reported_and_onboarding_goes_on(
    sandbox: SandboxProcess, receiver: RunningReceiver
) -> None:
    ctx, cluster = _customer(sandbox, "evlocked", _settings(receiver), node_role="Owner")
    sandbox.lockdown(cluster.node_resource_group_id)
    try:
        result = ensure_event_subscriptions(ctx, cluster)
    finally:
        sandbox.lockdown(cluster.node_resource_group_id, locked=False)
    (mrg_label, _, _), (node_label, _, _) = _groups(cluster)
    assert [c.split(": ")[0] for c in result.changed] == [mrg_label, mrg_label]
    assert result.unchanged == [
        f"{node_label}: Azure refused the event subscription (DenyAssignmentAuthorizationFailed): the watch "
        "covers its node pools"
    ]


def test_no_receiver_url_skips_with_one_line_and_a_url_without_key_is_refused(
    sandbox: SandboxProcess, receiver: RunningReceiver, owner: tuple[CustomerContext, ClusterInfo]
) -> None:
    ctx, cluster = owner
    mark = sandbox.mark()
    result = ensure_event_subscriptions(CustomerContext(ctx.spec, _settings(None)), cluster)
    assert (result.changed, result.unchanged) == ([], [SKIPPED])
    assert sandbox.requests_log(mark) == []
    keyless = _settings(receiver).model_copy(update={"receiver_eventgrid_key": None})
    with pytest.raises(PermanentError, match="ONBOARDING_RECEIVER_EVENTGRID_KEY is not"):
        ensure_event_subscriptions(CustomerContext(ctx.spec, keyless), cluster)


def test_a_failed_handshake_fails_the_step_and_a_rerun_repairs_it(
    receiver: RunningReceiver, owner: tuple[CustomerContext, ClusterInfo]
) -> None:
    """Onboarding with a key the receiver does not hold: Event Grid's handshake gets 401, the step fails naming
    the handshake (never the key); the next run with the right key repairs the failed subscriptions."""
    ctx, cluster = owner
    wrong = CustomerContext(ctx.spec, _settings(receiver, NEW_KEY))
    with pytest.raises(PermanentError) as failed:
        ensure_event_subscriptions(wrong, cluster)
    assert "validation handshake" in str(failed.value) and failed.value.hint == HANDSHAKE_HINT
    assert NEW_KEY not in str(failed.value) and KEY not in str(failed.value)
    name = eventgrid.subscription_name("evowner")
    (mrg_label, _, _), _ = _groups(cluster)
    repaired = ensure_event_subscriptions(ctx, cluster)
    assert repaired.changed[0] == (
        f"{mrg_label}: updated event subscription {name} (provisioning state Failed, delivery attribute "
        "X-Ama-Delivery-Key)"
    )


def test_offboarding_removes_only_what_onboarding_made(
    sandbox: SandboxProcess, receiver: RunningReceiver, owner: tuple[CustomerContext, ClusterInfo]
) -> None:
    ctx, cluster = owner
    ensure_event_subscriptions(ctx, cluster)
    (mrg_label, mrg, _), (node_label, node, _) = _groups(cluster)
    mrg_topic, node_topic = eventgrid.topic_name(mrg), eventgrid.topic_name(node)
    grid = ctx.client(EventGridManagementClient)
    theirs = eventgrid.WantedSubscription(f"{receiver.url}/eventgrid", "someone-else", KEY)
    eventgrid.put_subscription(grid, mrg, mrg_topic, "theirs", theirs, timeout_s=60)
    name = eventgrid.subscription_name("evowner")

    mark = sandbox.mark()
    plan = offboard_customer(ctx)
    assert sandbox.arm_writes(mark, ctx.spec.subscription_id) == []
    wanted = [
        f"would delete event subscription {name} on {mrg_label}",
        f"would delete event subscription {name} on {node_label}",
        f"would delete system topic {node_topic} in {node_label}",
    ]
    assert [c for c in plan.changed if "event subscription" in c or "system topic" in c] == wanted
    assert f"system topic {mrg_topic} in {mrg_label} left: it holds theirs (not ours)" in plan.unchanged

    applied = offboard_customer(ctx, dry_run=False)
    assert [c for c in applied.changed if "event subscription" in c or "system topic" in c] == [
        w.removeprefix("would ").replace("delete", "deleted", 1) for w in wanted
    ]
    assert [s.name for s in eventgrid.subscriptions_of(grid, mrg, mrg_topic)] == ["theirs"]
    node_grid = ctx.for_cluster(cluster).client(EventGridManagementClient, node_rg=True)
    assert eventgrid.topics_on(node_grid, node, cluster.node_resource_group_id) == []
    second = offboard_customer(ctx, dry_run=False)
    assert not [c for c in second.changed if "event subscription" in c or "system topic" in c]
