"""A failed watch of the probe Job is classified, never re-raised raw: what reading again can get past (410 Gone,
throttling, 5xx) falls back to polling; a refusal is the product's PermanentError naming customer and step."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from onboarding.errors import PermanentError
from onboarding.kube.probe_job import watch_failure

ACTION = "watch Job apps/ama-storage-probe-x"


@pytest.mark.parametrize(
    ("status", "reason"), [(410, "Gone"), (429, "Too Many Requests"), (500, "Error"), (503, "")]
)
def test_what_reading_again_gets_past_falls_back_to_polling(status: int, reason: str) -> None:
    exc = ApiException(status=status, reason=reason)
    assert watch_failure(exc, customer="acme", step="verify_storage_access", action=ACTION) is None


@pytest.mark.parametrize(
    ("status", "reason"), [(401, "Unauthorized"), (403, "Forbidden"), (400, "BadRequest")]
)
def test_a_refused_watch_is_a_permanent_error_naming_customer_and_step(status: int, reason: str) -> None:
    error = watch_failure(
        ApiException(status=status, reason=reason),
        customer="acme",
        step="verify_storage_access",
        action=ACTION,
    )
    assert isinstance(error, PermanentError)
    assert error.status == status
    assert str(error).startswith(
        f"customer 'acme' step verify_storage_access: {ACTION}: Kubernetes API answered {status} {reason}"
    )
