"""Command line for operators, without a Prefect server: validate the catalog, plan or onboard one customer, show
status, and run the post-onboarding operations (audit, offboard, refresh permissions, storage check) as plain
functions. It reads the same settings as the flows (``ONBOARDING_*``, the catalog from ``ONBOARDING_CATALOG_DIR``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError

from .catalog import find_customer, load_catalog, select
from .errors import InvalidSpecError, OnboardingError
from .results import StepResult
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from .context import CustomerContext
    from .models import CustomerSpec

app = typer.Typer(
    help="Onboard customers of the AKS managed application, without a Prefect server. `validate` checks the "
    "catalog (no cloud access); `plan` shows what onboarding one customer would change and `status` what is in "
    "place (both read-only); `onboard` runs the onboarding flow's steps here, in this process; `audit`, "
    "`offboard`, `migrate`, `refresh-permissions` and `verify-storage` run the operations; `publish` packages templates/ and "
    "creates or updates the service catalog application definition. The catalog is --catalog, else "
    "ONBOARDING_CATALOG_DIR, else the repository's deployments/customers."
    "\n\n"
    "Azure access: the publisher's app registration in AZURE_TENANT_ID and AZURE_CLIENT_ID, with its secret in "
    "the file named by ONBOARDING_CLIENT_SECRET_FILE (or in AZURE_CLIENT_SECRET); without them "
    "DefaultAzureCredential is tried. Other settings (endpoints, CA bundle, budgets) are ONBOARDING_* "
    "environment variables; README 'Pointing it at real Azure' lists them.",
    epilog="Exit status (every command): 0 done; 1 the cloud refused or failed (the message names the customer, "
    "the step and what to do); 2 invalid catalog or command line (a customer not in the catalog included).\n\n"
    "Examples: python -m onboarding validate | python -m onboarding plan contoso | "
    "python -m onboarding onboard contoso | "
    "python -m onboarding status contoso fabrikam | python -m onboarding offboard contoso --apply | "
    "python -m onboarding migrate contoso --apply | "
    "python -m onboarding publish --dry-run",
    no_args_is_help=True,
    add_completion=False,
)

CatalogOption = typer.Option(
    None,
    "--catalog",
    help="Folder of customer YAML files [default: ONBOARDING_CATALOG_DIR, else the repository's "
    "deployments/customers]",
    show_default=False,
)
CustomerArgument = typer.Argument(..., help="Customer short name from the catalog")


# status is a quick look: a 403 there is reported, not waited out for the whole propagation budget
STATUS_PROPAGATION_BUDGET_S = 20.0


def _settings() -> Settings:
    """The ONBOARDING_* settings, or exit 2 naming the variable that is wrong."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"ONBOARDING_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        typer.echo(f"invalid settings: {problems}", err=True)
        raise typer.Exit(2) from None


def _catalog(catalog: Path | None) -> Path:
    return catalog or _settings().catalog_dir


def _fail(exc: OnboardingError) -> NoReturn:
    """Exit 2 for an invalid catalog or command line, 1 for what the cloud refused or failed (the epilog)."""
    invalid = isinstance(exc, InvalidSpecError)
    typer.echo(f"{'invalid' if invalid else 'error'}: {exc}", err=True)
    raise typer.Exit(2 if invalid else 1)


def _spec(customer: str, catalog: Path | None) -> CustomerSpec:
    """CUSTOMER's catalog entry, or exit 2; commands call it before importing the SDKs, so a typo is answered
    at once."""
    try:
        return find_customer(customer, _catalog(catalog))
    except OnboardingError as exc:
        _fail(exc)


def _context(spec: CustomerSpec, **settings: Any) -> CustomerContext:
    from .context import CustomerContext

    return CustomerContext(spec, _settings().model_copy(update=settings))


def _operation(spec: CustomerSpec, title: str, run: Callable[..., StepResult]) -> None:
    """Run one operation for the customer and print its report; exit as ``_fail`` says when it fails."""
    from .report import operation_markdown

    try:
        result = run(_context(spec))
    except OnboardingError as exc:
        _fail(exc)
    typer.echo(operation_markdown(title=title, result=result))


@app.command()
def validate(catalog: Path | None = CatalogOption) -> None:
    """Validate every customer file in the catalog; errors name the file, the customer and the field."""
    try:
        specs = load_catalog(_catalog(catalog))
    except OnboardingError as exc:
        _fail(exc)
    for spec in specs:
        typer.echo(f"ok  {spec.name:<20} {spec.pod_identity.mode.value:<28} {spec.managed_application.name}")
    typer.echo(f"{len(specs)} customers valid")


@app.command()
def plan(customer: str = CustomerArgument, catalog: Path | None = CatalogOption) -> None:
    """Show what onboarding CUSTOMER would change, reading the cloud and writing nothing."""
    _run_pipeline(customer, catalog, dry_run=True)


@app.command()
def onboard(customer: str = CustomerArgument, catalog: Path | None = CatalogOption) -> None:
    """Onboard CUSTOMER from here, without Prefect: the pipeline of onboarding/pipeline.py (the one plan runs, and
    the onboard-customer flow runs as tasks), one step after another in this process, then the report. For a first
    customer before any Prefect server exists, or to debug one customer; it leaves no flow run, artifact or event, and a transient error that outlives the Azure
    SDK's own retries ends the run (exit 1): run it again, finished steps write nothing."""
    _run_pipeline(customer, catalog, dry_run=False)


def _run_pipeline(customer: str, catalog: Path | None, *, dry_run: bool) -> None:
    spec = _spec(customer, catalog)
    from .pipeline import run_onboarding
    from .report import onboarding_markdown

    try:
        steps, cluster = run_onboarding(_context(spec), dry_run=dry_run)
    except OnboardingError as exc:
        _fail(exc)
    outcome = "planned" if dry_run else "verified"
    typer.echo(
        onboarding_markdown(customer=customer, outcome=outcome, dry_run=dry_run, steps=steps, cluster=cluster)
    )


@app.command()
def status(
    customers: list[str] = typer.Argument(
        None, help="Customer short names (default: every catalog customer)"
    ),
    catalog: Path | None = CatalogOption,
) -> None:
    """Per customer (read-only): the managed application's provisioning state, the identities on each node pool
    scale set, the pod identity objects in the cluster, and when storage access was last verified (the latest
    ama.customer.onboarded Prefect event when PREFECT_API_URL is set, else unknown)."""
    from tasks.onboarded_event import last_verification

    from .operations.status import customer_status

    try:
        specs = select(customers, _catalog(catalog))
    except OnboardingError as exc:
        _fail(exc)
    failed = False
    for spec in specs:
        ctx = _context(spec, propagation_budget_s=STATUS_PROPAGATION_BUDGET_S)
        found = customer_status(ctx, last_verification)
        typer.echo(f"{found.customer}: application {found.application}; last verified {found.last_verified}")
        for name, identities in found.scale_sets.items():
            typer.echo(f"  scale set {name}: {', '.join(identities) or 'no user-assigned identity'}")
        if found.application.lower() == "succeeded":
            typer.echo(f"  pod identity: {', '.join(found.pod_identity) or 'none'}")
        if found.error:
            failed = True
            typer.echo(f"  error: {found.error}")
    if failed:
        raise typer.Exit(1)


@app.command()
def audit(
    customer: str = CustomerArgument,
    delete_unexpected: bool = typer.Option(
        False, "--delete-unexpected", help="Delete unexpected assignments that are provably this product's"
    ),
    catalog: Path | None = CatalogOption,
) -> None:
    """Audit CUSTOMER's role assignments at the managed and node resource groups and the storage account (read cross-tenant): expected
    and present, missing, unexpected. Writes nothing unless --delete-unexpected, which deletes only the unexpected
    ones this product can prove it made; the others are left ("left: not ours")."""
    spec = _spec(customer, catalog)
    from .operations.audit import audit_role_assignments

    _operation(
        spec,
        "Role assignment audit",
        lambda ctx: audit_role_assignments(ctx, delete_unexpected=delete_unexpected),
    )


@app.command()
def offboard(
    customer: str = CustomerArgument,
    apply: bool = typer.Option(False, "--apply", help="Make the changes (default: print the plan only)"),
    catalog: Path | None = CatalogOption,
) -> None:
    """Remove what onboarding added for CUSTOMER: this product's identities on the scale sets (every other one
    stays), its labelled pod identity objects, the chart release it installed, the federated credential and its
    provably-own role assignments. Prints the plan unless --apply. The managed application itself is kept."""
    spec = _spec(customer, catalog)
    from .operations.offboard import offboard_customer

    title = "Offboarding" if apply else "Offboarding plan"
    _operation(spec, title, lambda ctx: offboard_customer(ctx, dry_run=not apply))


@app.command()
def migrate(
    customer: str = CustomerArgument,
    apply: bool = typer.Option(False, "--apply", help="Make the changes (default: print the plan only)"),
    restart_workloads: bool = typer.Option(
        False,
        "--restart-workloads",
        help="Rollout-restart the Deployments whose running pods still use pod identity (default: "
        "ONBOARDING_MIGRATION_RESTART_WORKLOADS; off: stop and name those pods)",
    ),
    catalog: Path | None = CatalogOption,
) -> None:
    """Move CUSTOMER from aad-pod-identity to workload identity: enable the OIDC issuer and workload identity on
    the cluster, federate the service account, prove storage access through both paths from pods, then remove
    what the product added for pod identity. Prints the plan unless --apply; the report starts with the
    outcome and the catalog change to commit. Nothing is removed when a proof fails."""
    spec = _spec(customer, catalog)
    from .migration_report import migration_markdown
    from .operations.migrate import migrate_to_workload_identity

    ctx = _context(spec)
    if restart_workloads:
        ctx = ctx.with_settings(migration_restart_workloads=True)
    try:
        result = migrate_to_workload_identity(ctx, dry_run=not apply)
    except OnboardingError as exc:
        _fail(exc)
    typer.echo(migration_markdown(result))


@app.command("refresh-permissions")
def refresh_permissions(
    customer: str = CustomerArgument,
    target_version: str = typer.Option(
        "", "--target-version", help="Apply this application version's permissions"
    ),
    catalog: Path | None = CatalogOption,
) -> None:
    """POST refreshPermissions on CUSTOMER's managed application and wait for the operation to end."""
    spec = _spec(customer, catalog)
    from .operations.refresh import refresh_permissions as refresh

    _operation(
        spec,
        "Permission refresh",
        lambda ctx: refresh(ctx, target_version=target_version or None),
    )


@app.command("verify-storage")
def verify_storage(customer: str = CustomerArgument, catalog: Path | None = CatalogOption) -> None:
    """List and read CUSTOMER's ADLS Gen2 storage from here as the application's identity (listTokens); read-only."""
    spec = _spec(customer, catalog)
    from .operations.storage_check import verify_storage as check

    _operation(spec, "Storage check from the publisher", check)


@app.command()
def publish(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be written; write nothing"),
    package: Path | None = typer.Option(
        None,
        "--package",
        help="Where the package zip goes (default: the repository's dist/app.zip)",
        show_default=False,
    ),
) -> None:
    """Package templates/ into a deterministic zip (mainTemplate.json and createUiDefinition.json at its root: what
    a Marketplace plan takes) and create or update the service catalog application definition
    ONBOARDING_APPLICATION_DEFINITION_ID: the template inline, version (ONBOARDING_DEFINITION_VERSION, default
    the template's contentVersion), the publisher's authorization (ONBOARDING_PUBLISHER_PRINCIPAL_ID and
    ONBOARDING_PUBLISHER_ROLE_DEFINITION_ID) and the notification endpoint
    (ONBOARDING_RECEIVER_PUBLIC_URL/notifications?sig=ONBOARDING_RECEIVER_NOTIFICATION_SECRET). Writes only what
    differs: a re-run with nothing changed writes nothing."""
    from .azure.credentials import publisher_credential
    from .publish import DEFAULT_PACKAGE_PATH, summary
    from .publish import publish as run_publish

    settings = _settings()
    try:
        result = run_publish(
            settings,
            publisher_credential(settings),
            dry_run=dry_run,
            package_path=package or DEFAULT_PACKAGE_PATH,
        )
    except OnboardingError as exc:
        _fail(exc)
    typer.echo(summary(result))
