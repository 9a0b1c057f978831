"""The post-onboarding operations as Prefect tasks (thin: the logic is in onboarding/operations/)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from onboarding.models import CustomerSpec
from onboarding.operations.audit import audit_role_assignments
from onboarding.operations.migrate import migrate_to_workload_identity
from onboarding.operations.offboard import offboard_customer
from onboarding.operations.refresh import refresh_permissions
from onboarding.operations.storage_check import verify_storage
from onboarding.results import StepResult

from .context import context_for
from .policy import under_policy


@task(name="refresh-permissions", task_run_name="refresh-permissions-{spec.name}", cache_policy=NO_CACHE)
def refresh_permissions_task(spec: CustomerSpec, target_version: str | None = None) -> StepResult:
    return under_policy(
        lambda: refresh_permissions(context_for(spec), target_version=target_version),
        step="refresh-permissions",
        customer=spec.name,
    )


@task(name="verify-storage", task_run_name="verify-storage-{spec.name}", cache_policy=NO_CACHE)
def verify_storage_task(spec: CustomerSpec) -> StepResult:
    return under_policy(lambda: verify_storage(context_for(spec)), step="verify-storage", customer=spec.name)


@task(
    name="audit-role-assignments", task_run_name="audit-role-assignments-{spec.name}", cache_policy=NO_CACHE
)
def audit_role_assignments_task(spec: CustomerSpec, delete_unexpected: bool = False) -> StepResult:
    return under_policy(
        lambda: audit_role_assignments(context_for(spec), delete_unexpected=delete_unexpected),
        step="audit-role-assignments",
        customer=spec.name,
    )


@task(name="offboard-customer", task_run_name="offboard-customer-{spec.name}", cache_policy=NO_CACHE)
def offboard_customer_task(spec: CustomerSpec, dry_run: bool = True) -> StepResult:
    return under_policy(
        lambda: offboard_customer(context_for(spec), dry_run=dry_run),
        step="offboard-customer",
        customer=spec.name,
    )


@task(
    name="migrate-to-workload-identity",
    task_run_name="migrate-to-workload-identity-{spec.name}",
    cache_policy=NO_CACHE,
)
def migrate_to_workload_identity_task(
    spec: CustomerSpec, dry_run: bool = True, restart_workloads: bool = False
) -> StepResult:
    ctx = context_for(spec)
    if restart_workloads:
        ctx = ctx.with_settings(migration_restart_workloads=True)
    return under_policy(
        lambda: migrate_to_workload_identity(ctx, dry_run=dry_run),
        step="migrate-to-workload-identity",
        customer=spec.name,
    )
