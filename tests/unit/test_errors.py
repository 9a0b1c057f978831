"""The error taxonomy for failures that carry no HTTP response, and the polling helper that honours it.

Classification of real ARM error responses (429, 409, 403, 404 from the sandbox) is in
tests/integration/test_steps_azure.py, on exceptions the SDK really raised.
"""

from __future__ import annotations

import io
import json
import time

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest
from azure.core.rest._requests_basic import RestRequestsTransportResponse
from azure.mgmt.core.exceptions import ARMErrorFormat
from urllib3 import HTTPResponse

from onboarding.errors import (
    AuthorizationPendingError,
    PermanentError,
    TransientError,
    azure_errors,
    from_azure,
    from_kubernetes,
    is_transient,
)
from onboarding.polling import poll_until, retry_propagation
from onboarding.redact import register_secret


@pytest.mark.parametrize("exc", [ServiceRequestError("connection refused"), ServiceResponseError("reset")])
def test_connection_problems_are_transient(exc: Exception) -> None:
    mapped = from_azure(exc, customer="acme", step="discover_cluster", action="read cluster")
    assert isinstance(mapped, TransientError)
    assert str(mapped).startswith("customer 'acme' step discover_cluster: read cluster: connection problem")


def test_authentication_failure_is_permanent_with_a_hint() -> None:
    mapped = from_azure(
        ClientAuthenticationError("AADSTS7000215: invalid client secret"),
        customer="acme",
        step="credentials",
        action="get a token",
    )
    assert isinstance(mapped, PermanentError)
    assert "check the credential source" in str(mapped)


def test_context_manager_maps_and_passes_product_errors_through() -> None:
    with pytest.raises(TransientError) as info, azure_errors(customer="acme", step="s", action="a"):
        raise ServiceRequestError("boom")
    assert info.value.__cause__ is None
    original = PermanentError("already classified", customer="acme")
    with pytest.raises(PermanentError) as again, azure_errors(customer="acme", step="s", action="a"):
        raise original
    assert again.value is original


def test_messages_never_carry_secrets() -> None:
    register_secret("s3cr3t-client-value")
    mapped = from_azure(
        ClientAuthenticationError("bad secret s3cr3t-client-value"),
        customer="acme",
        step=None,
        action="login",
    )
    assert "s3cr3t-client-value" not in str(mapped)


@pytest.mark.parametrize(
    ("status", "transient"), [(409, True), (429, True), (503, True), (0, True), (403, False), (404, False)]
)
def test_kubernetes_statuses(status: int, transient: bool) -> None:
    mapped = from_kubernetes(status, "x", customer="acme", step="install", action="apply")
    assert is_transient(mapped) is transient


def test_poll_until_returns_as_soon_as_done_and_honours_retry_after() -> None:
    calls: list[float] = []

    def fn() -> str | None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise TransientError("throttled", retry_after_s=0.2)
        return "done" if len(calls) >= 3 else None

    value, waited = poll_until(fn, timeout_s=5, initial_delay_s=0.01, max_delay_s=0.05, what="thing")
    assert value == "done"
    assert calls[1] - calls[0] >= 0.2
    assert waited < 1


def test_poll_until_gives_up_with_the_last_error() -> None:
    def fn() -> None:
        raise TransientError("still busy")

    with pytest.raises(TransientError, match="still busy"):
        poll_until(fn, timeout_s=0.1, initial_delay_s=0.01, max_delay_s=0.02, what="thing")
    with pytest.raises(TransientError, match="not reached within"):
        poll_until(lambda: None, timeout_s=0.05, initial_delay_s=0.01, max_delay_s=0.02, what="thing")


def test_permanent_errors_are_not_retried() -> None:
    calls = []

    def fn() -> None:
        calls.append(1)
        raise PermanentError("no")

    with pytest.raises(PermanentError):
        poll_until(fn, timeout_s=5, initial_delay_s=0.01, max_delay_s=0.02, what="thing")
    assert len(calls) == 1


def test_propagation_403_becomes_permanent_after_the_budget() -> None:
    def fn() -> None:
        raise AuthorizationPendingError(
            "403 AuthorizationFailed", customer="acme", step="attach", code="AuthorizationFailed", status=403
        )

    with pytest.raises(PermanentError) as info:
        retry_propagation(
            fn, budget_s=0.1, initial_delay_s=0.01, max_delay_s=0.02, what="write", hint="run refresh"
        )
    assert not isinstance(info.value, TransientError)
    assert "propagation budget" in str(info.value)
    assert "run refresh" in str(info.value)
    assert info.value.customer == "acme"


def test_propagation_retry_returns_once_allowed() -> None:
    attempts = iter([AuthorizationPendingError("403"), AuthorizationPendingError("403"), None])

    def fn() -> str:
        error = next(attempts)
        if error:
            raise error
        return "ok"

    value, waited = retry_propagation(
        fn, budget_s=5, initial_delay_s=0.01, max_delay_s=0.02, what="w", hint="h"
    )
    assert value == "ok"
    assert waited > 0


APP_URL = (
    "https://management.azure.com/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Solutions/applications/a"
    "?api-version=2021-07-01"
)
CORRELATION = "1a94aed5-b960-40a5-9987-e5231008f28e"


def _arm_answer(status: int, code: str, headers: dict[str, str]) -> RestRequestsTransportResponse:
    """An ARM answer as azure-core reads it off the wire (the sandbox sends no correlation id; Azure does)."""
    raw = requests.Response()
    raw.status_code = status
    raw.headers.update({"Content-Type": "application/json; charset=utf-8", **headers})
    body = json.dumps({"error": {"code": code, "message": f"{code} message"}}).encode()
    raw.raw = HTTPResponse(body=io.BytesIO(body), preload_content=False)
    response = RestRequestsTransportResponse(request=HttpRequest("GET", APP_URL), internal_response=raw)
    response.read()
    return response


def test_an_exhausted_error_says_what_to_do_and_quotes_the_correlation_id() -> None:
    answer = _arm_answer(503, "ServiceUnavailable", {"x-ms-correlation-request-id": CORRELATION})
    mapped = from_azure(
        HttpResponseError(response=answer, error_format=ARMErrorFormat),
        customer="acme",
        step="ensure_managed_app",
        action="read managed application a",
    )
    assert isinstance(mapped, TransientError) and mapped.correlation_id == CORRELATION
    assert str(mapped) == (
        "customer 'acme' step ensure_managed_app: read managed application a: 503 ServiceUnavailable: "
        "ServiceUnavailable message (GET /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Solutions/"
        "applications/a) -> the service failed (503 ServiceUnavailable); when retries run out, wait and re-run, "
        "and check Azure Service Health for the service and the customer's region; if it persists, open a "
        f"support case quoting correlation id {CORRELATION}"
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, "SubscriptionNotFound"),
        (404, "ResourceGroupNotFound"),
        (401, "InvalidAuthenticationTokenTenant"),
    ],
)
def test_requests_that_never_reached_the_resource_are_refusals(status: int, code: str) -> None:
    error_type = ResourceNotFoundError if status == 404 else ClientAuthenticationError
    mapped = from_azure(
        error_type(response=_arm_answer(status, code, {})), customer="acme", step="s", action="read a"
    )
    assert isinstance(mapped, PermanentError) and mapped.code == code
    assert "customer spec" in str(mapped)


def test_an_error_from_below_a_step_is_located_in_it() -> None:
    inner = TransientError("listTokens for x: 500 InternalServerError: boom", customer="acme")
    with (
        pytest.raises(TransientError) as info,
        azure_errors(customer="acme", step="discover_cluster", action="list"),
    ):
        raise inner
    assert info.value is inner
    assert (
        str(inner)
        == "customer 'acme' step discover_cluster: list: listTokens for x: 500 InternalServerError: boom"
    )
