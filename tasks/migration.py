"""One customer's migration to workload identity as a fleet task: under its subscription's limit and the
product's retry policy, returning its fleet row (never raising)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from onboarding.models import CustomerSpec
from onboarding.operations.migrate import migrate_to_workload_identity
from onboarding.operations.waves import FAILED, Outcome, migrate_one
from onboarding.redact import redact

from .context import context_for
from .fleet import under_subscription_limit
from .policy import under_policy


@task(name="migrate-customer", task_run_name="migrate-{spec.name}", cache_policy=NO_CACHE)
def migrate_customer_task(spec: CustomerSpec, wave: int, dry_run: bool = True) -> Outcome:
    def migrate() -> Outcome:
        return migrate_one(
            spec.name,
            wave,
            lambda: under_policy(
                lambda: migrate_to_workload_identity(context_for(spec), dry_run=dry_run),
                step="migrate-to-workload-identity",
                customer=spec.name,
            ),
        )

    try:
        return under_subscription_limit(spec, migrate)
    except Exception as exc:  # no slot of the subscription's limit: the customer's row says so
        return Outcome(spec.name, wave, FAILED, error=redact(f"{type(exc).__name__}: {exc}"))
