"""reconcile_fleet: every catalog customer through the onboarding (reconcile mode), nightly."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from onboarding.catalog import select
from onboarding.errors import PermanentError
from onboarding.settings import get_settings
from tasks.fleet import ensure_subscription_limits, reconcile_customer_task


@flow(name="reconcile-fleet", log_prints=True)
def reconcile_fleet(customers: list[str] | None = None, dry_run: bool = False) -> list[dict[str, Any]]:
    """Reconcile every customer; one failure does not stop the others; a fleet table artifact at the end.

    Args:
        customers: Only these catalog customers (default: all); a name not in the catalog fails the run, naming
            it, before any cloud call. The catalog is the worker's (ONBOARDING_CATALOG_DIR).
        dry_run: Plan only, write nothing.
    """
    settings = get_settings()
    specs = select(customers, settings.catalog_dir)
    ensure_subscription_limits([s.subscription_id for s in specs], settings.subscription_concurrency)
    progress = cast(  # a sync flow gets the id itself (sync_compatible)
        UUID, create_progress_artifact(progress=0.0, description=f"fleet reconcile of {len(specs)} customers")
    )
    rows = []
    # The pool is sized when the run starts, from the worker's settings (not when the module is imported).
    with ThreadPoolTaskRunner[dict[str, Any]](max_workers=settings.fleet_parallelism) as runner:
        futures = [
            runner.submit(reconcile_customer_task, {"spec": spec, "dry_run": dry_run}) for spec in specs
        ]
        for done, future in enumerate(futures, start=1):
            rows.append(future.result())
            update_progress_artifact(progress, progress=100.0 * done / max(1, len(futures)))
    create_table_artifact(
        key="fleet-reconcile", table=rows, description="fleet reconcile: one row per customer"
    )
    failed = [r for r in rows if r["outcome"] == "failed"]
    get_run_logger().info("fleet: %d customers, %d failed", len(rows), len(failed))
    if failed:
        names = ", ".join(f"{r['customer']} ({r['reason'][:120]})" for r in failed)
        raise PermanentError(
            f"{len(failed)} of {len(rows)} customers failed: {names}",
            hint="open each failed customer's onboarding run for its report",
        )
    return rows
