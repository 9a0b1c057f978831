"""migrate-fleet: the catalog's customers to workload identity in waves (canary first), a plan unless dry_run is
false. The waves, stop and resume are onboarding/operations/waves.py's; this flow runs each wave's customers as
task runs and writes the fleet table."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from onboarding.catalog import select
from onboarding.errors import PermanentError
from onboarding.operations.waves import Outcome, plan_waves, roll_out, summary_markdown
from onboarding.settings import get_settings
from tasks.fleet import ensure_subscription_limits
from tasks.migration import migrate_customer_task


@flow(name="migrate-fleet", log_prints=True)
def migrate_fleet(
    customers: list[str] | None = None,
    canary: list[str] | None = None,
    wave_size: Annotated[int | None, Field(ge=1)] = None,
    max_failure_rate: Annotated[float | None, Field(ge=0, le=1)] = None,
    dry_run: bool = True,
) -> dict[str, Any]:
    """Migrate customers from aad-pod-identity to workload identity, wave after wave; a wave starts only when
    the one before failed no more than allowed. A re-run redoes no finished customer (they answer
    already-migrated, writing nothing).

    Args:
        customers: Only these catalog customers, in this order (default: all, in catalog order).
        canary: Wave 0, migrated first; one failure among them stops the rollout (default: the first customer;
            an empty list: no canary wave).
        wave_size: Customers per wave after the canary (default ONBOARDING_MIGRATION_WAVE_SIZE).
        max_failure_rate: No further wave starts once a wave's failed share passes this, 0 to 1 (default
            ONBOARDING_MIGRATION_MAX_FAILURE_RATE).
        dry_run: Plan only (the default): read everything and report what each migration would do.
    """
    settings = get_settings()
    specs = {spec.name: spec for spec in select(customers, settings.catalog_dir)}
    waves = plan_waves(
        list(specs),
        list(specs)[:1] if canary is None else canary,
        settings.migration_wave_size if wave_size is None else wave_size,
    )
    ensure_subscription_limits([s.subscription_id for s in specs.values()], settings.subscription_concurrency)
    with ThreadPoolTaskRunner[Outcome](max_workers=settings.fleet_parallelism) as runner:

        def run_wave(wave: int, names: list[str]) -> list[Outcome]:
            futures = [
                runner.submit(migrate_customer_task, {"spec": specs[n], "wave": wave, "dry_run": dry_run})
                for n in names
            ]
            return [future.result() for future in futures]

        rollout = roll_out(
            waves,
            run_wave,
            settings.migration_max_failure_rate if max_failure_rate is None else max_failure_rate,
        )
    create_table_artifact(
        key="fleet-migration", table=rollout.rows(), description="fleet migration: one row per customer"
    )
    create_markdown_artifact(
        key="fleet-migration-summary",
        markdown=summary_markdown(rollout, dry_run=dry_run),
        description="fleet migration: waves and why it stopped",
    )
    get_run_logger().info("fleet migration: %s", dict(rollout.counts()))
    if rollout.failed:  # a stopped rollout had failures too
        failed = ", ".join(f"{o.customer} ({o.error[:120]})" for o in rollout.failed)
        raise PermanentError(
            f"{len(rollout.failed)} of {len(rollout.outcomes)} customers failed: {failed}"
            + (f"; {rollout.stopped}" if rollout.stopped else ""),
            hint="open the fleet-migration table for each customer's error; re-run after the fix (finished "
            "customers are not redone)",
        )
    return {"customers": rollout.rows(), "waves": len(rollout.waves)}
