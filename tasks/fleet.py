"""Fleet tasks: per-subscription concurrency limits and one customer's onboarding as a child deployment run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from prefect import get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.objects import FlowRun
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectAlreadyExists, PrefectHTTPStatusError
from prefect.runtime import flow_run

from onboarding.models import CustomerSpec
from onboarding.redact import redact
from onboarding.settings import get_settings

FLEET_DEPLOYMENT = "onboard-customer/fleet"
SERVER_RETRY_DELAYS_S = (5.0, 15.0, 30.0, 60.0)
T = TypeVar("T")


def subscription_limit(subscription_id: str) -> str:
    return f"ama-subscription-{subscription_id.lower()}"


@task(name="ensure-subscription-limits", cache_policy=NO_CACHE)
def ensure_subscription_limits(subscription_ids: list[str], limit: int) -> list[str]:
    """Create the global concurrency limit of every subscription the fleet touches (existing ones are kept)."""
    created = []
    with get_client(sync_client=True) as client:
        for sub in sorted(set(subscription_ids)):
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=subscription_limit(sub), limit=limit)
                )
                created.append(sub)
            except ObjectAlreadyExists:
                pass
    return created


def _server_overloaded(exc: Exception) -> bool:
    """A failure of the Prefect API itself (e.g. SQLite's "database is locked" as a 503) that outlived the
    client's own retries, not of the customer's onboarding."""
    if isinstance(exc, ConcurrencySlotAcquisitionError):
        return True
    return isinstance(exc, PrefectHTTPStatusError) and exc.response.status_code >= 500


def under_subscription_limit(spec: CustomerSpec, fn: Callable[[], T]) -> T:
    """``fn()`` holding one slot of the customer's subscription limit. An overloaded API server (the slot's
    acquisition or ``fn``'s own Prefect calls) is retried with backoff, so ``fn`` must be safe to call again."""
    for attempt, delay in enumerate([*SERVER_RETRY_DELAYS_S, None], start=1):
        try:
            with concurrency(subscription_limit(spec.subscription_id), occupy=1, strict=True):
                return fn()
        except Exception as exc:
            if delay is None or not _server_overloaded(exc):
                raise
            get_run_logger().warning(
                "%s: Prefect API unavailable (attempt %d): %s; retrying in %g s",
                spec.name,
                attempt,
                redact(str(exc))[:300],
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def _acquire_then_run(spec: CustomerSpec, dry_run: bool) -> FlowRun:
    """The child run under the subscription's limit; the child reads the customer's entry from the worker's
    catalog by name. The child run's idempotency key (this fleet run + customer) makes a retry after an
    overloaded API server find the run an earlier attempt created instead of starting a second one."""
    key = f"reconcile-fleet-{flow_run.get_id()}-{spec.name}-{'plan' if dry_run else 'apply'}"
    return under_subscription_limit(
        spec,
        lambda: cast(  # a sync caller gets the FlowRun itself (sync_compatible)
            FlowRun,
            run_deployment(
                FLEET_DEPLOYMENT,
                parameters={"customer": spec.name, "dry_run": dry_run},
                timeout=get_settings().deployment_timeout_s,
                idempotency_key=key,
            ),
        ),
    )


@task(name="reconcile-customer", task_run_name="reconcile-{spec.name}", cache_policy=NO_CACHE)
def reconcile_customer_task(spec: CustomerSpec, dry_run: bool = False) -> dict[str, Any]:
    """Run the customer's onboarding as a child flow run on any worker; never raises, returns a fleet row."""
    started = time.monotonic()
    row: dict[str, Any] = {"customer": spec.name, "subscription": spec.subscription_id}
    try:
        run = _acquire_then_run(spec, dry_run)
    except Exception as exc:  # one customer's failure must not stop the fleet: it is reported in its row
        reason = redact(f"{type(exc).__name__}: {exc}")
        return {
            **row,
            "outcome": "failed",
            "seconds": round(time.monotonic() - started, 1),
            "reason": reason,
            "flow_run": "",
        }
    state = run.state
    ok = bool(state and state.is_completed())
    return {
        **row,
        "outcome": ("planned" if dry_run else "verified") if ok else "failed",
        "seconds": round(time.monotonic() - started, 1),
        "reason": ""
        if ok
        else (state.message if state and state.message else str(state.type if state else "?")),
        "flow_run": str(run.id),
    }
