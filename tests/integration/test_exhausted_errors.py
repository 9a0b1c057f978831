"""Issue 18 item 3: an error that ran out of retries names the customer, the step that ran and the call, and says
what to do. Real SDK clients against the sandbox, faults injected with ``sandbox.set_faults``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from onboarding.context import CustomerContext
from onboarding.errors import TransientError
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.settings import Settings
from onboarding.steps.discover import discover
from onboarding.steps.managed_app import ensure_managed_app
from sandbox.client import SandboxProcess

pytestmark = pytest.mark.integration


def _settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"poll_interval_s": 0.05, "retry_max_delay_s": 0.5, "propagation_budget_s": 30}
    return Settings(**{**base, **overrides})


@pytest.fixture(scope="module")
def adopted(sandbox: SandboxProcess) -> CustomerSpec:
    """A customer whose Marketplace application is deployed; the node resource group is reached with listTokens."""
    name = "exhausted"
    params = {"aks_name": f"{name}aks", "node_resource_group": f"{name}-aks-rg"}
    customer = sandbox.add_customer(
        name=name,
        tenant_id=str(uuid.uuid4()),
        subscription_id=str(uuid.uuid4()),
        adopt={"aksName": params["aks_name"], "nodeResourceGroup": params["node_resource_group"]},
    )
    return load_customer_spec(
        {
            "name": name,
            "tenant_id": customer["tenant_id"],
            "subscription_id": customer["subscription_id"],
            "location": customer["location"],
            "credential_source": "application-tokens",
            "managed_application": {
                "resource_group": customer["application_resource_group"],
                "name": name,
                "managed_resource_group": f"{name}-mrg",
                "adopt_only": True,
                "plan": {
                    "name": "aks",
                    "publisher": "sandbox-publisher",
                    "product": "ama-aks",
                    "version": "1.0.0",
                },
                "parameters": params,
            },
        }
    )


def _failing(sandbox: SandboxProcess, rule: dict[str, Any], run: Any) -> TransientError:
    sandbox.set_faults([{"count": 1000, **rule}])
    try:
        with pytest.raises(TransientError) as info:
            run()
    finally:
        sandbox.clear_faults()
    return info.value


def test_list_tokens_failing_during_discovery_names_discovery_and_both_calls(
    sandbox: SandboxProcess, adopted: CustomerSpec
) -> None:
    ctx = CustomerContext(adopted, _settings(sdk_retry_total=1))
    rule = {"status": 500, "code": "InternalServerError", "method": "POST", "path": r"/listTokens$"}
    error = _failing(sandbox, rule, lambda: discover(ctx))
    text = str(error)
    assert error.step == "discover_cluster" and "credentials" not in text, text
    assert text.startswith(
        "customer 'exhausted' step discover_cluster: list node pool scale sets in exhausted-aks-rg: "
        "listTokens for https://management.azure.com/ on application exhausted: 500 InternalServerError"
    ), text
    assert f"(POST /subscriptions/{adopted.subscription_id}/resourceGroups/" in text, text
    assert "/listTokens)" in text, text
    assert "when retries run out, wait and re-run" in text, text
    assert "check Azure Service Health" in text, text
    assert "open a support case" in text, text


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "advice"),
    [
        (429, "SubscriptionRequestsThrottled", 3, "wait 3 s and re-run"),
        (503, "ServiceUnavailable", None, "check Azure Service Health"),
        (408, "RequestTimeout", None, "check Azure Service Health"),
    ],
)
def test_exhausted_arm_errors_say_what_to_do(
    sandbox: SandboxProcess,
    adopted: CustomerSpec,
    status: int,
    code: str,
    retry_after: int | None,
    advice: str,
) -> None:
    rule: dict[str, Any] = {
        "status": status,
        "code": code,
        "method": "GET",
        "path": r"/applications/exhausted$",
    }
    if retry_after is not None:
        rule["retry_after"] = retry_after
    ctx = CustomerContext(adopted, _settings(sdk_retry_total=0))
    error = _failing(sandbox, rule, lambda: ensure_managed_app(ctx))
    text = str(error)
    assert text.startswith(
        f"customer 'exhausted' step ensure_managed_app: read managed application exhausted: {status} {code}"
    ), text
    assert f"(GET /subscriptions/{adopted.subscription_id}/resourceGroups/" in text, text
    assert advice in text, text
    assert "open a support case quoting correlation id " in text, text  # the one ARM's answer carried
