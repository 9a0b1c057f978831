"""The triggers of prefect.yaml against the receiver's event contract: every event the product acts on starts
exactly one deployment, with parameters its flow takes, read from the labels the contract names."""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import uuid
from typing import Any

import jinja2
import pytest
import yaml
from prefect.events import DeploymentEventTrigger

from deployments.build import PREFECT_YAML, render
from onboarding.settings import get_settings

CUSTOMER = "contoso"
CLUSTER = "/subscriptions/s/resourceGroups/mrg/providers/Microsoft.ContainerService/managedClusters/aks"
VMSS = (
    "/subscriptions/s/resourceGroups/node-rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-a-1-vmss"
)
APP = "/subscriptions/s/resourceGroups/app/providers/Microsoft.Solutions/applications/contoso-ama"

# (event, resource labels as the receiver or the watch emits them) -> (deployment, parameters the run gets)
CONTRACT: list[tuple[str, dict[str, str], str, dict[str, Any]]] = [
    (
        "aks.agentpool.written",
        {
            "prefect.resource.id": f"aks.agentpool.{CUSTOMER}.aks.user1",
            "azure.agentpool.id": f"{CLUSTER}/agentPools/user1",
        },
        "attach-node-pool/on-event",
        {"agent_pool_id": f"{CLUSTER}/agentPools/user1"},
    ),
    (
        "aks.nodepool.written",
        {"prefect.resource.id": f"aks.nodepool.{CUSTOMER}.aks-a-1-vmss", "azure.vmss.id": VMSS},
        "attach-node-pool/on-event",
        {"vmss_id": VMSS},
    ),
    (
        "aks.nodepool.created",
        {"prefect.resource.id": f"aks.nodepool.{CUSTOMER}.aks-a-1-vmss", "azure.vmss.id": VMSS},
        "attach-node-pool/on-event",
        {"vmss_id": VMSS},
    ),
    (
        "aks.cluster.written",
        {"prefect.resource.id": f"aks.cluster.{CUSTOMER}.aks", "azure.cluster.id": CLUSTER},
        "check-node-pools/on-event",
        {"cluster_id": CLUSTER},
    ),
    *(
        (
            f"ama.application.{kind}",
            {"prefect.resource.id": f"ama.application.{APP.lower()}", "azure.application.id": APP},
            "application-event/on-notification",
            {"event": f"ama.application.{kind}", "application_id": APP, "payload": {"error": None}},
        )
        for kind in ("provisioned", "failed", "deleted")
    ),
]


def _deployments() -> list[dict[str, Any]]:
    return list(yaml.safe_load(PREFECT_YAML.read_text())["deployments"])


def _flow_name(entrypoint: str) -> str:
    path, name = entrypoint.split(":")
    flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
    return str(flow.name)


def _triggered(event: str, resource: dict[str, str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (deployment, trigger)
        for deployment in _deployments()
        for trigger in deployment.get("triggers", [])
        if event in trigger["expect"]
        and fnmatch.fnmatch(resource["prefect.resource.id"], trigger["match"]["prefect.resource.id"])
    ]


def _render(template: Any, event: dict[str, Any]) -> Any:
    """As Prefect renders a single-expression parameter template: the value keeps its type."""
    environment = jinja2.Environment()
    if isinstance(template, str) and template.startswith("{{") and template.count("{{") == 1:
        return yaml.safe_load(environment.from_string(template[:-2] + " | tojson }}").render(event=event))
    return template


@pytest.mark.parametrize(
    ("event", "labels", "deployment", "expected"), CONTRACT, ids=[c[0] for c in CONTRACT]
)
def test_each_event_starts_one_run_of_its_flow_with_the_labels_as_parameters(
    event: str, labels: dict[str, str], deployment: str, expected: dict[str, Any]
) -> None:
    resource = {**labels, "customer.id": CUSTOMER}
    [(found, trigger)] = _triggered(event, resource)
    assert f"{_flow_name(found['entrypoint'])}/{found['name']}" == deployment
    DeploymentEventTrigger.model_validate({k: v for k, v in trigger.items() if k != "type"})
    assert (trigger["posture"], trigger["threshold"], trigger["within"]) == ("Reactive", 1, 0)

    event_id = uuid.uuid4()
    sent = {"id": str(event_id), "event": event, "resource": resource, "payload": {"error": None}}
    parameters = {name: _render(value, sent) for name, value in trigger["parameters"].items()}
    assert parameters == {"customer": CUSTOMER, "event_id": str(event_id), **expected} | (
        {"reason": event} if "reason" in parameters else {}
    )
    path, name = found["entrypoint"].split(":")
    flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
    assert set(parameters) <= set(inspect.signature(flow.fn).parameters)


def test_updated_and_unknown_events_start_nothing() -> None:
    assert (
        _triggered("ama.application.updated", {"prefect.resource.id": f"ama.application.{APP.lower()}"}) == []
    )
    assert _triggered("aks.nodepool.deleted", {"prefect.resource.id": "aks.nodepool.x.y"}) == []


def test_the_watch_runs_at_the_configured_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    def watch_schedule() -> list[dict[str, Any]]:
        document = yaml.safe_load(render())
        [watch] = [d for d in document["deployments"] if d["entrypoint"].endswith(":watch_node_pools")]
        return list(watch["schedules"])

    assert watch_schedule() == [{"interval": 900.0, "active": True}]
    monkeypatch.setenv("ONBOARDING_WATCH_INTERVAL_S", "120")
    get_settings.cache_clear()
    try:
        assert watch_schedule() == [{"interval": 120.0, "active": True}]
    finally:
        monkeypatch.delenv("ONBOARDING_WATCH_INTERVAL_S")
        get_settings.cache_clear()
