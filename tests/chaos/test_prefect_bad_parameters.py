"""Bad parameter sets for a deployment are refused by the Prefect API itself (``enforce_parameter_schema``: the
flow's parameter schema comes from CustomerSpec), before any flow run exists and so before any cloud call.

One gap, Prefect's: the parameter schema does not forbid unknown top-level parameters, so the API accepts a run
with one; the flow run then fails its parameter check before any task (shown without a worker, with the same
``validate_parameters`` the engine calls)."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.exceptions import PrefectHTTPStatusError, SignatureMismatchError

from sandbox.client import SandboxProcess
from tools.stack import PrefectStack

from .fleet import fleet_specs
from .prefect_runs import FLEET_DEPLOYMENT, prefect_client

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.xdist_group("chaos")]


def _customer(**changes: Any) -> dict[str, Any]:
    customer = fleet_specs(95, 1)[0].model_dump(mode="json", exclude_none=True)
    customer.update(changes)
    return customer


# (case id, parameters, text the refusal must contain)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("tenant-not-a-guid", {"customer": _customer(tenant_id="not-a-guid")}, "tenant_id"),
    ("unknown-field", {"customer": _customer(debug=True)}, "debug"),
    (
        "display-name-yaml-tag",
        {"customer": _customer(display_name="!!python/object/apply:os.system")},
        "display_name",
    ),
    ("schedule-subshell", {"customer": _customer(schedule="$(reboot) * * * *")}, "schedule"),
    ("chart-version-set", {"customer": _customer(chart={"version": "4.1.18 --set x=1"})}, "version"),
    ("unknown-node-role", {"customer": _customer(node_role="Superuser")}, "node_role"),
    ("name-missing", {"customer": {k: v for k, v in _customer().items() if k != "name"}}, "name"),
    ("dry-run-not-bool", {"customer": _customer(), "dry_run": "sometimes"}, "dry_run"),
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


def test_unknown_top_level_parameter_fails_the_flow_before_any_task() -> None:
    from flows.onboard_customer import onboard_customer

    with pytest.raises(SignatureMismatchError, match="'set'"):
        onboard_customer.validate_parameters({"customer": _customer(), "set": "image.repository=evil"})
