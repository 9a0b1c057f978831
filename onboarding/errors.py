"""One exception tree for the whole product, and the mapping from Azure, Kubernetes and Helm errors.

``TransientError`` may succeed if tried again (throttling, 5xx, conflicts, propagation); it carries a suggested
delay. ``PermanentError`` will not (bad input, lockdown, missing resources, a 403 that outlived propagation).
Messages say which customer, which step, what failed and what to do. They never carry tokens or secrets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from .redact import redact

TRANSIENT_CONFLICT_CODES = {
    "operationnotallowed",
    "conflict",
    "concurrentupdate",
    "anotheroperationinprogress",
    "operationpreempted",
    "retryableerror",
}
PROPAGATION_CODES = {
    "authorizationfailed",
    "linkedauthorizationfailed",
    "principalnotfound",
    "authorizationpermissionmismatch",  # storage data plane: a data role not yet propagated
}
LOCKDOWN_CODES = {"requestdisallowedbypolicy", "denyassignmentauthorizationfailed", "scopelocked"}
# Answers that say the request never reached the resource: what the spec names is not there or not visible
UNREACHABLE_HINTS = {
    "subscriptionnotfound": "the subscription does not exist or the publisher principal cannot see it: check "
    "subscription_id and tenant_id in the customer spec, and that the customer registered the subscription "
    "with the publisher (managed application offer or its role on the application's resource group)",
    "resourcegroupnotfound": "the resource group does not exist: check the resource group names in the "
    "customer spec; the customer creates the application's resource group and gives the publisher a role on it",
    "invalidauthenticationtokentenant": "the subscription belongs to another tenant than the token's: check "
    "tenant_id and subscription_id in the customer spec (they must be the customer's pair)",
}
CORRELATION_HEADER = "x-ms-correlation-request-id"


class OnboardingError(Exception):
    """Base of every error the product raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        customer: str | None = None,
        step: str | None = None,
        hint: str | None = None,
        code: str | None = None,
        status: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.customer = customer
        self.step = step
        self.hint = hint
        self.code = code
        self.status = status
        self.correlation_id = correlation_id
        self.detail = redact(message)
        super().__init__(self._render())

    def locate(self, *, customer: str | None, step: str | None, action: str) -> OnboardingError:
        """Fill in where an error raised below a step happened (a token fetched by ``listTokens`` while a
        step's call authenticates): the step that ran, and the call that needed it before the failed one."""
        if self.step is None and step is not None:
            self.step = step
            self.detail = f"{action}: {self.detail}"
        self.customer = self.customer or customer
        self.args = (self._render(),)
        return self

    def explain(self, why: str) -> OnboardingError:
        """Add what became of the error (e.g. that retrying stopped, and why) to its message."""
        self.detail = f"{self.detail} ({why})"
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        where = " ".join(
            p
            for p in (
                f"customer {self.customer!r}" if self.customer else "",
                f"step {self.step}" if self.step else "",
            )
            if p
        )
        text = f"{where}: {self.detail}" if where else self.detail
        return f"{text} -> {self.hint}" if self.hint else text


class TransientError(OnboardingError):
    """Worth retrying; ``retry_after_s`` is the service's advice when it gave one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: object) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **kw)  # type: ignore[arg-type]


class AuthorizationPendingError(TransientError):
    """A 403/PrincipalNotFound that role propagation explains, until the propagation budget runs out."""


class PermanentError(OnboardingError):
    """Retrying will not help; the message says what to do."""


class InvalidSpecError(PermanentError):
    """A customer spec or parameter failed validation (raised before any cloud call)."""


class UnexpectedError(PermanentError):
    """An exception the product does not classify (a bug, or an answer no mapping knows): not retried, since
    nothing says that trying again helps; the step's log has its traceback, and a re-run resumes."""

    @classmethod
    def of(cls, exc: Exception, *, customer: str | None, step: str | None) -> UnexpectedError:
        return cls(
            f"unexpected {type(exc).__name__}: {exc}",
            customer=customer,
            step=step,
            hint="the product does not classify this error, so it was not retried: the run's log has its "
            "traceback; re-running resumes where this run stopped, and if it recurs, report it with that log",
        )


def _retry_after(exc: HttpResponseError) -> float | None:
    response = exc.response
    if response is None:
        return None
    value = getattr(response, "headers", {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _correlation_id(exc: HttpResponseError) -> str | None:
    response = exc.response
    return getattr(response, "headers", {}).get(CORRELATION_HEADER) if response is not None else None


def _call(exc: HttpResponseError) -> str:
    """``METHOD /path`` of the request that failed (no query: it can carry a SAS or a skip token)."""
    request = getattr(exc.response, "request", None)
    return f"{request.method} {urlsplit(request.url).path}" if request is not None else ""


def _support(correlation_id: str | None) -> str:
    if correlation_id:
        return f"if it persists, open a support case quoting correlation id {correlation_id}"
    return (
        "if it persists, open a support case quoting the call above and when it failed (the answer carried no "
        "correlation id)"
    )


def _transient_hint(status: int, code: str, retry_after: float | None, correlation_id: str | None) -> str:
    """What to do when the retries of a 429/5xx/408 ran out (every attempt carries it; the last one is shown)."""
    if status == 429:
        wait = f"{retry_after:g} s" if retry_after else "a few minutes"
        first = (
            f"throttled ({code}); when retries run out, wait {wait} and re-run, or onboard fewer customers at "
            "once (fleet_parallelism, subscription_concurrency)"
        )
    else:
        first = (
            f"the service failed ({status} {code}); when retries run out, wait and re-run, and check Azure "
            "Service Health for the service and the customer's region"
        )
    return f"{first}; {_support(correlation_id)}"


def _code(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    return str(code or getattr(exc, "error_code", None) or exc.reason or "")  # error_code: storage data plane


def _text(exc: HttpResponseError) -> str:
    return str(getattr(exc.error, "message", None) or exc.message)


def from_azure(exc: Exception, *, customer: str | None, step: str | None, action: str) -> OnboardingError:
    """Classify an azure-core exception raised while doing ``action``."""
    kw: dict[str, Any] = {"customer": customer, "step": step}
    if isinstance(exc, HttpResponseError):
        kw["correlation_id"] = _correlation_id(exc)
        unreachable = UNREACHABLE_HINTS.get(_code(exc).lower())
        if unreachable:
            return PermanentError(
                f"{action}: {exc.status_code} {_code(exc)}: {_text(exc)}",
                code=_code(exc),
                status=exc.status_code,
                hint=unreachable,
                **kw,
            )
    if isinstance(exc, ClientAuthenticationError) and (exc.status_code or 0) < 500:
        return PermanentError(
            f"{action}: authentication failed ({exc.message})",
            status=exc.status_code,
            hint="check the credential source and its client id/secret or identity",
            **kw,
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(
            f"{action}: connection problem ({type(exc).__name__})",
            hint="when retries run out, check the network path and the endpoint settings, then re-run",
            **kw,
        )
    if not isinstance(exc, HttpResponseError):
        return PermanentError(f"{action}: {type(exc).__name__}: {exc}", **kw)
    status = exc.status_code or 0
    code = _code(exc)
    lcode = code.lower()
    message = f"{action}: {status} {code}: {_text(exc)}"
    if status == 429 or status >= 500 or status == 408:
        retry_after = _retry_after(exc)
        return TransientError(
            f"{message} ({_call(exc)})" if _call(exc) else message,
            retry_after_s=retry_after,
            code=code,
            status=status,
            hint=_transient_hint(status, code, retry_after, kw["correlation_id"]),
            **kw,
        )
    if status == 409 and lcode in TRANSIENT_CONFLICT_CODES:
        return TransientError(
            message,
            retry_after_s=_retry_after(exc),
            code=code,
            status=status,
            hint="another operation on the resource is in progress; when retries run out, wait for it to end "
            "and re-run",
            **kw,
        )
    if lcode in LOCKDOWN_CODES:
        return PermanentError(
            message,
            code=code,
            status=status,
            hint="the scope is locked down or denied by policy; ask the customer to lift the "
            "node resource group lockdown or exempt this identity",
            **kw,
        )
    if lcode in PROPAGATION_CODES:
        return AuthorizationPendingError(
            message,
            code=code,
            status=status,
            hint="waiting for role assignments to propagate; when retries run out, check that the principal holds "
            "the role at this scope (the application's authorizations, or the customer's grant), then re-run",
            **kw,
        )
    if status == 403:
        return PermanentError(
            message,
            code=code,
            status=status,
            hint="the credential lacks the role; check the application's authorizations",
            **kw,
        )
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        return PermanentError(
            message, code=code, status=status, hint="check the names and ids in the customer spec", **kw
        )
    return PermanentError(message, code=code, status=status, **kw)


@contextlib.contextmanager
def azure_errors(*, customer: str | None, step: str | None, action: str) -> Iterator[None]:
    """Re-raise azure-core exceptions as the product's taxonomy (like httpx's mapping context manager)."""
    try:
        yield
    except OnboardingError as exc:
        exc.locate(customer=customer, step=step, action=action)
        raise
    except (HttpResponseError, ServiceRequestError, ServiceResponseError, ClientAuthenticationError) as exc:
        raise from_azure(exc, customer=customer, step=step, action=action) from None


def from_kubernetes(
    status: int, reason: str, *, customer: str | None, step: str | None, action: str
) -> OnboardingError:
    kw: dict[str, Any] = {"customer": customer, "step": step, "status": status}
    message = f"{action}: Kubernetes API answered {status} {reason}"
    if status in (409, 429) or status >= 500 or status == 0:
        return TransientError(message, **kw)
    if status in (401, 403):
        return PermanentError(
            message, hint="the cluster credentials lack access; re-fetch them or check RBAC", **kw
        )
    return PermanentError(message, **kw)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)
