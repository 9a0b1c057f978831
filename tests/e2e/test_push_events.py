"""The push path's flows with a real server and worker: events posted to Prefect's REST API as the receiver posts
them start the runs their triggers name (the receiver itself is not in the loop here)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from onboarding.azure.managed_app import application_id
from onboarding.models import CustomerSpec
from onboarding.settings import get_settings
from sandbox.client import SandboxProcess
from tests.integration.adopted import adopted_spec
from tools.cloud_actions import add_agent_pool, cluster_id, scale_set_identities, wait_for
from tools.customers import register_customer
from tools.stack import PrefectStack

from .catalog_customer import onboarded_through_prefect

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]


def _post_event(stack: PrefectStack, event: str, resource: dict[str, str], **payload: Any) -> str:
    """One event as the receiver forwards it (POST /events); returns its id."""
    event_id = str(uuid.uuid4())
    _post(stack, event_id, event, resource, payload)
    return event_id


def _post(stack: PrefectStack, event_id: str, event: str, resource: dict[str, str], payload: Any) -> None:
    body = [
        {
            "id": event_id,
            "occurred": datetime.now(UTC).isoformat(),
            "event": event,
            "resource": resource,
            "payload": payload,
            "related": [],
        }
    ]
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        http.post("/events", json=body).raise_for_status()


def _runs(stack: PrefectStack, name_like: str) -> list[dict[str, Any]]:
    """The flow runs whose name is like ``name_like`` or whose id it is."""
    field = {"id": {"any_": [name_like]}} if _is_id(name_like) else {"name": {"like_": name_like}}
    query = {"flow_runs": field, "limit": 50}
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        return list(http.post("/flow_runs/filter", json=query).json())


def _is_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _finished(stack: PrefectStack, name_like: str, count: int = 1) -> list[dict[str, Any]]:
    """Waits for ``count`` runs named like ``name_like`` (or with that id) to end; asserts they completed."""

    def done() -> bool:
        runs = _runs(stack, name_like)
        return len(runs) >= count and all(
            r["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") for r in runs
        )

    wait_for(done, timeout_s=300)
    runs = _runs(stack, name_like)
    assert [r["state"]["type"] for r in runs] == ["COMPLETED"] * len(runs), [r["state"] for r in runs]
    return runs


def _artifact(stack: PrefectStack, key: str) -> str:
    query = {"artifacts": {"key": {"any_": [key]}}, "limit": 1}
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        found = http.post("/artifacts/filter", json=query).json()
    assert found, f"no artifact {key}"
    return str(found[0]["data"])


@pytest.fixture(scope="module")
def pushpool(sandbox: SandboxProcess, prefect_stack: PrefectStack, worker_catalog: Path) -> CustomerSpec:
    return onboarded_through_prefect(sandbox, prefect_stack, worker_catalog, adopted_spec("pushpool"))


def _identity_on(box: SandboxProcess, spec: CustomerSpec, prefix: str) -> bool:
    identity = f"/{spec.managed_application.parameters.aks_name}-identity"
    return any(
        name.startswith(prefix) and any(i.endswith(identity) for i in ids)
        for name, ids in scale_set_identities(box, spec).items()
    )


def test_an_agent_pool_write_attaches_its_scale_set_once(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, pushpool: CustomerSpec
) -> None:
    add_agent_pool(sandbox, pushpool, "burst")
    written = time.monotonic()
    assert not _identity_on(sandbox, pushpool, "aks-burst-")
    pool_id = f"{cluster_id(pushpool)}/agentPools/burst"
    resource = {
        "prefect.resource.id": f"aks.agentpool.pushpool.{pushpool.managed_application.parameters.aks_name}.burst",
        "customer.id": "pushpool",
        "azure.agentpool.id": pool_id,
        "azure.cluster.id": cluster_id(pushpool),
    }
    event_id = _post_event(prefect_stack, "aks.agentpool.written", resource)
    _post(prefect_stack, event_id, "aks.agentpool.written", resource, {})  # a redelivery: the same event
    wait_for(lambda: _identity_on(sandbox, pushpool, "aks-burst-"), timeout_s=180)
    print(f"\nfigure agent_pool_event_to_identity {time.monotonic() - written:.1f} s")
    assert len(_finished(prefect_stack, "attach-pushpool-aks.agentpool.written%")) == 1


def test_a_scale_set_write_that_finds_nothing_missing_writes_nothing(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, pushpool: CustomerSpec
) -> None:
    [vmss] = [n for n in scale_set_identities(sandbox, pushpool) if n.startswith("aks-nodepool1-")]
    node_rg = f"/subscriptions/{pushpool.subscription_id}/resourceGroups/pushpool-ama-aks-rg"
    mark = sandbox.mark()
    _post_event(
        prefect_stack,
        "aks.nodepool.written",
        {
            "prefect.resource.id": f"aks.nodepool.pushpool.{vmss}",
            "customer.id": "pushpool",
            "azure.vmss.id": f"{node_rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}",
        },
    )
    _finished(prefect_stack, "attach-pushpool-aks.nodepool.written%")
    assert sandbox.arm_writes(mark, pushpool.subscription_id) == []


def test_a_cluster_write_attaches_what_an_upgrade_removed(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, pushpool: CustomerSpec
) -> None:
    sandbox.upgrade_cluster(cluster_id(pushpool))
    assert not _identity_on(sandbox, pushpool, "aks-nodepool1-")
    _post_event(
        prefect_stack,
        "aks.cluster.written",
        {
            "prefect.resource.id": "aks.cluster.pushpool.pushpoolaks",
            "customer.id": "pushpool",
            "azure.cluster.id": cluster_id(pushpool),
        },
    )
    _finished(prefect_stack, "check-pushpool-aks.cluster.written%")
    assert _identity_on(sandbox, pushpool, "aks-nodepool1-") and _identity_on(sandbox, pushpool, "aks-burst-")


def test_a_deleted_application_gets_its_offboarding_plan(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, pushpool: CustomerSpec
) -> None:
    mark = sandbox.mark()
    _post_event(prefect_stack, "ama.application.deleted", _application_resource(pushpool, "pushpool"))
    _finished(prefect_stack, "application-pushpool-ama.application.deleted%")
    plan = _artifact(prefect_stack, "offboard-pushpool")
    assert "Offboarding plan" in plan and "pushpoolaks-identity" in plan, plan
    assert sandbox.arm_writes(mark, pushpool.subscription_id) == [], "a plan writes nothing"


def _application_resource(spec: CustomerSpec, customer: str = "") -> dict[str, str]:
    app_id = application_id(spec)
    return {
        "prefect.resource.id": f"ama.application.{app_id.lower()}",
        "azure.application.id": app_id,
        "customer.id": customer,
    }


def test_a_purchase_not_in_the_catalog_is_proposed(
    sandbox: SandboxProcess, prefect_stack: PrefectStack, worker_catalog: Path
) -> None:
    bought = adopted_spec("buyer", node_role="Owner")
    register_customer(sandbox, bought)
    _post_event(
        prefect_stack,
        "ama.application.provisioned",
        _application_resource(bought),
        eventType="PUT",
        provisioningState="Succeeded",
        plan=bought.managed_application.plan.model_dump() if bought.managed_application.plan else None,
    )
    _finished(prefect_stack, "application--ama.application.provisioned%")
    proposal = _artifact(prefect_stack, "intake-buyer-ama")
    assert "adopt_only: true" in proposal and f"tenant_id: {bought.tenant_id}" in proposal
    assert not (worker_catalog / "buyer-ama.yaml").exists(), "automatic intake is off by default"


def test_a_failed_deployment_is_reported_with_its_error(
    sandbox: SandboxProcess, prefect_stack: PrefectStack
) -> None:
    failed = adopted_spec(
        "failedbuy"
    )  # the customer exists, its application does not (its deployment failed)
    sandbox.add_customer(
        name=failed.name,
        tenant_id=failed.tenant_id,
        subscription_id=failed.subscription_id,
        location=failed.location,
    )
    error = {"code": "ApplianceDeploymentFailed", "message": "quota", "details": [{"code": "QuotaExceeded"}]}
    _post_event(prefect_stack, "ama.application.failed", _application_resource(failed), error=error)
    _finished(prefect_stack, "application--ama.application.failed%")
    report = _artifact(prefect_stack, "application-failed-failedbuy-ama")
    assert "ApplianceDeploymentFailed: quota" in report and "QuotaExceeded" in report
    assert "provisioning state now: unknown" in report


def test_automatic_intake_onboards_a_purchase_to_verified(
    sandbox: SandboxProcess,
    prefect_stack: PrefectStack,
    worker_catalog: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flow in this process (the worker's intake setting is off), the onboarding it starts on the worker."""
    from flows.application_events import application_event

    bought = adopted_spec("autobuy", mode="aad-pod-identity-managed")
    register_customer(sandbox, bought)
    monkeypatch.setenv("ONBOARDING_INTAKE_AUTO", "true")
    monkeypatch.setenv("ONBOARDING_CATALOG_DIR", str(worker_catalog))
    get_settings.cache_clear()
    started = time.monotonic()
    try:
        with prefect_stack.settings():
            result = application_event(
                event="ama.application.provisioned",
                application_id=application_id(bought),
                event_id="autobuy-1",
            )
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result["written"] and (worker_catalog / "autobuy-ama.yaml").exists()
    [run] = _finished(prefect_stack, result["onboarding"])
    print(f"\nfigure purchase_notification_to_verified {time.monotonic() - started:.1f} s")
    assert run["parameters"]["customer"] == "autobuy-ama"
