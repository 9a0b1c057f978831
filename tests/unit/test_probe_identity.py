"""The storage probe proves access only as the application's identity: a token whose claims name another identity,
or none, is refused (never passes for want of something to compare)."""

from __future__ import annotations

from typing import Any

import pytest

from onboarding.cluster import IdentityRef
from onboarding.context import CustomerContext
from onboarding.errors import PermanentError
from onboarding.kube.probe_job import ProbeOutcome
from onboarding.models import load_customer_spec
from onboarding.settings import Settings
from onboarding.steps.verify import diagnose

from .clusters import cluster_with, probe_request, raw_spec

APP = IdentityRef(
    resource_id="/subscriptions/s/resourceGroups/mrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app",
    name="app",
    client_id="11111111-0000-0000-0000-000000000001",
    principal_id="22222222-0000-0000-0000-000000000002",
)
CLUSTER = cluster_with(APP)
REQUEST = probe_request(client_id=APP.client_id, resource_id=APP.resource_id, selector="app")
CTX = CustomerContext(load_customer_spec(raw_spec()), Settings())


def _proved(identity: dict[str, Any]) -> PermanentError | None:
    """diagnose() of a probe that listed and read the file with a token carrying these claims."""
    result = {"ok": True, "stage": "done", "status": 200, "identity": identity, "file_bytes": 3}
    outcome = ProbeOutcome(
        job="ama-storage-probe-x", phase="Complete", result=result, log_tail="", seconds=1.0
    )
    error = diagnose(outcome, REQUEST, CTX, CLUSTER)
    assert error is None or isinstance(error, PermanentError), error
    return error


def test_the_applications_identity_is_proven_by_xms_mirid_or_oid() -> None:
    assert _proved({"xms_mirid": APP.resource_id.upper(), "oid": "whatever"}) is None
    assert _proved({"oid": APP.principal_id, "tid": "t"}) is None


@pytest.mark.parametrize("claims", [{}, {"appid": APP.client_id, "tid": "t"}])
def test_a_token_naming_no_identity_is_refused(claims: dict[str, Any]) -> None:
    error = _proved(claims)
    assert error is not None
    message = str(error)
    print(f"\n{message}")
    assert "customer 'acme' step verify_storage_access" in message
    assert "neither an xms_mirid nor an oid claim" in message
    assert f"claims seen: {', '.join(sorted(claims)) or 'none'}" in message
    assert f"cannot be shown to be app ({APP.resource_id})" in message
    assert error.hint and "NMI" in error.hint


def test_a_token_of_another_identity_is_refused() -> None:
    other = APP.resource_id.replace("/app", "/intruder")
    error = _proved({"xms_mirid": other, "oid": APP.principal_id})
    assert error is not None
    assert f"another identity (xms_mirid {other}), expected app ({APP.resource_id})" in str(error)
    error = _proved({"oid": "33333333-0000-0000-0000-000000000003"})
    assert error is not None
    assert "(oid 33333333-0000-0000-0000-000000000003), expected app" in str(error)
    assert APP.principal_id in str(error)


def test_a_failure_to_get_a_token_is_not_blamed_on_the_identity() -> None:
    result = {"ok": False, "stage": "token", "status": 403, "error": "no binding", "identity": {}}
    outcome = ProbeOutcome(job="ama-storage-probe-x", phase="Failed", result=result, log_tail="", seconds=1.0)
    error = diagnose(outcome, REQUEST, CTX, CLUSTER)
    assert error is not None and "neither" not in str(error) and "no token for app" in str(error)
