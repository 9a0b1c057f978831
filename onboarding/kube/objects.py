"""Create-or-update of Kubernetes objects in place, ownership labels, and the mapping of client errors.

Every object the product creates carries ``app.kubernetes.io/managed-by: ama-onboarding`` and
``ama-onboarding/customer: <name>`` so offboarding can prove it made them. An object that exists without those
labels is left as it is when it already says what we want, and is never overwritten when it does not.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import urllib3.exceptions
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from ..changes import Change
from ..errors import OnboardingError, PermanentError, TransientError, from_kubernetes

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "ama-onboarding"
CUSTOMER_LABEL = "ama-onboarding/customer"
MAX_ATTEMPTS = 5

Body = dict[str, Any]


def ownership_labels(customer: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGER, CUSTOMER_LABEL: customer}


def owned_by(obj: Body, customer: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGER and labels.get(CUSTOMER_LABEL) == customer


def reason_of(exc: ApiException) -> str:
    """The Status reason (AlreadyExists, Conflict, NotFound...) of an ApiException, else its HTTP reason."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    reason = body.get("reason") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    text = str(reason or exc.reason or "")
    return f"{text} ({message})" if message else text


@contextlib.contextmanager
def kube_errors(*, customer: str | None, step: str | None, action: str) -> Iterator[None]:
    """Re-raise kubernetes client errors as the product's taxonomy."""
    try:
        yield
    except OnboardingError:
        raise
    except ApiException as exc:
        raise from_kubernetes(
            exc.status or 0, reason_of(exc), customer=customer, step=step, action=action
        ) from None
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise TransientError(
            f"{action}: cannot reach the Kubernetes API ({type(exc).__name__})", customer=customer, step=step
        ) from None


def to_dict(api: ApiClient, obj: Any) -> Body:
    """A typed client model (or a dict) as the plain JSON dict the server sent."""
    if isinstance(obj, dict):
        return obj
    return api.sanitize_for_serialization(obj)


def is_subset(want: Any, have: Any) -> bool:
    """Deep 'want is contained in have' (server-added fields and defaults do not count as differences)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    return want == have


def _matches(desired: Body, current: Body) -> bool:
    meta_want, meta_have = desired.get("metadata") or {}, current.get("metadata") or {}
    for field in ("labels", "annotations"):
        if not is_subset(meta_want.get(field) or {}, meta_have.get(field) or {}):
            return False
    return all(
        is_subset(v, current.get(k))
        for k, v in desired.items()
        if k not in ("metadata", "apiVersion", "kind")
    )


def _merged(desired: Body, current: Body) -> Body:
    body = copy.deepcopy(current)
    meta = body.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        want = (desired.get("metadata") or {}).get(field)
        if want:
            meta[field] = {**(meta.get(field) or {}), **want}
    for k, v in desired.items():
        if k not in ("metadata", "status"):
            body[k] = copy.deepcopy(v)
    return body


def ensure_object(
    *,
    what: str,
    desired: Body,
    read: Callable[[], Any],
    create: Callable[[Body], Any],
    replace: Callable[[Body], Any],
    api: ApiClient,
    customer: str,
    step: str,
    dry_run: bool,
) -> Change:
    """Make one object look like ``desired``; returns created/updated/unchanged (or would create/update).

    409 AlreadyExists on create -> read it and update instead; 409 Conflict on update (stale resourceVersion) ->
    read it again and retry, a few times.
    """
    for _ in range(MAX_ATTEMPTS):
        with kube_errors(customer=customer, step=step, action=f"read {what}"):
            try:
                current: Body | None = to_dict(api, read())
            except ApiException as exc:
                if exc.status != 404:
                    raise
                current = None
        if current is None:
            if dry_run:
                return Change.WOULD_CREATE
            try:
                with kube_errors(customer=customer, step=step, action=f"create {what}"):
                    create(desired)
                return Change.CREATED
            except TransientError as exc:
                if exc.status == 409:
                    continue  # AlreadyExists: someone made it meanwhile; read it and update it
                raise
        if _matches(desired, current):
            return Change.UNCHANGED
        if not owned_by(current, customer):
            raise PermanentError(
                f"{what} exists, differs from what this customer needs and is not labelled "
                f"{MANAGED_BY_LABEL}={MANAGER}, {CUSTOMER_LABEL}={customer}",
                customer=customer,
                step=step,
                hint="it was made by hand or by someone else: delete or rename it, then run again",
            )
        if dry_run:
            return Change.WOULD_UPDATE
        try:
            with kube_errors(customer=customer, step=step, action=f"update {what}"):
                replace(_merged(desired, current))
            return Change.UPDATED
        except TransientError as exc:
            if exc.status == 409:
                continue  # Conflict: stale resourceVersion; read again
            raise
    raise TransientError(
        f"{what}: kept conflicting with concurrent writers after {MAX_ATTEMPTS} attempts",
        customer=customer,
        step=step,
    )


def ensure_namespace(api: ApiClient, *, name: str, customer: str, step: str, dry_run: bool) -> Change:
    """Create the namespace when missing (labelled ours); an existing namespace is never touched."""
    core = CoreV1Api(api)
    with kube_errors(customer=customer, step=step, action=f"read namespace {name}"):
        try:
            core.read_namespace(name)
            return Change.UNCHANGED
        except ApiException as exc:
            if exc.status != 404:
                raise
    if dry_run:
        return Change.WOULD_CREATE
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": ownership_labels(customer)},
    }
    with kube_errors(customer=customer, step=step, action=f"create namespace {name}"):
        try:
            core.create_namespace(body)
        except ApiException as exc:
            if exc.status == 409:
                return Change.UNCHANGED
            raise
    return Change.CREATED
