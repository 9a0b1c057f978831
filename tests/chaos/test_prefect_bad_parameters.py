"""Bad parameters for an onboarding run are refused before any cloud call: the shape of the parameters by the
Prefect API itself (``enforce_parameter_schema``), before any flow run exists; an unknown customer or an override
that makes an invalid spec by the flow when it starts, naming the customer and the field, before any task.

One gap, Prefect's: the parameter schema does not forbid unknown top-level parameters, so the API accepts a run
with one; the flow run then fails its parameter check before any task (shown without a worker, with the same
``validate_parameters`` the engine calls)."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.exceptions import PrefectHTTPStatusError, SignatureMismatchError

from onboarding.errors import InvalidSpecError
from sandbox.client import SandboxProcess
from tools.stack import PrefectStack

from .fleet import fleet_specs
from .prefect_runs import FLEET_DEPLOYMENT, prefect_client

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.xdist_group("chaos")]

CUSTOMER = fleet_specs(95, 1)[0].name

# (case id, parameters, text the refusal must contain)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("customer-missing", {"dry_run": True}, "customer"),
    ("customer-a-spec-not-a-name", {"customer": fleet_specs(95, 1)[0].model_dump(mode="json")}, "customer"),
    ("overrides-not-a-mapping", {"customer": CUSTOMER, "overrides": "image.repository=evil"}, "overrides"),
    ("dry-run-not-bool", {"customer": CUSTOMER, "dry_run": "sometimes"}, "dry_run"),
]

# (case id, overrides, the field the flow names)
BAD_OVERRIDES: list[tuple[str, dict[str, Any], str]] = [
    ("tenant-not-a-guid", {"tenant_id": "not-a-guid"}, "customer.tenant_id"),
    ("unknown-field", {"debug": True}, "customer.debug"),
    ("display-name-yaml-tag", {"display_name": "!!python/object/apply:os.system"}, "customer.display_name"),
    ("schedule-subshell", {"schedule": "$(reboot) * * * *"}, "customer.schedule"),
    ("chart-version-set", {"chart": {"version": "4.1.18 --set x=1"}}, "customer.chart.version"),
    ("unknown-node-role", {"node_role": "Superuser"}, "customer.node_role"),
    ("rename", {"name": "someone-else"}, "customer.name"),
]


@pytest.mark.parametrize(("parameters", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_parameters_are_refused_by_the_prefect_api(
    chaos_box: SandboxProcess, chaos_stack: PrefectStack, parameters: dict[str, Any], field: str
) -> None:
    mark = chaos_box.mark()
    with prefect_client(chaos_stack) as client:
        deployment = client.read_deployment_by_name(FLEET_DEPLOYMENT)
        assert deployment.enforce_parameter_schema
        before = len(client.read_flow_runs())
        with pytest.raises(PrefectHTTPStatusError) as info:
            client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        assert len(client.read_flow_runs()) == before, "no flow run was created"
    detail = info.value.response.text
    assert info.value.response.status_code in (409, 422), detail
    assert field in detail, detail
    assert chaos_box.requests_log(since=mark) == []


@pytest.mark.parametrize(
    ("overrides", "field"), [c[1:] for c in BAD_OVERRIDES], ids=[c[0] for c in BAD_OVERRIDES]
)
def test_a_bad_override_fails_the_run_at_its_start_naming_the_field_and_customer(
    chaos_box: SandboxProcess, chaos_stack: PrefectStack, overrides: dict[str, Any], field: str
) -> None:
    from flows.onboard_customer import onboard_customer

    mark = chaos_box.mark()
    with chaos_stack.settings(), pytest.raises(InvalidSpecError) as info:
        onboard_customer(CUSTOMER, overrides=overrides)
    assert f"customer {CUSTOMER!r}: " in str(info.value) and f"field {field}" in str(info.value)
    assert chaos_box.requests_log(since=mark) == []


def test_an_unknown_customer_fails_the_run_at_its_start_naming_it(
    chaos_box: SandboxProcess, chaos_stack: PrefectStack
) -> None:
    from flows.onboard_customer import onboard_customer

    mark = chaos_box.mark()
    with chaos_stack.settings(), pytest.raises(InvalidSpecError, match="no customer named 'fleet-9999'"):
        onboard_customer("fleet-9999")
    assert chaos_box.requests_log(since=mark) == []


def test_unknown_top_level_parameter_fails_the_flow_before_any_task() -> None:
    from flows.onboard_customer import onboard_customer

    with pytest.raises(SignatureMismatchError, match="'set'"):
        onboard_customer.validate_parameters({"customer": CUSTOMER, "set": "image.repository=evil"})
