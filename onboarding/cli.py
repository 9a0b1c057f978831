"""Command line for operators, without a Prefect server: validate the catalog, plan one customer, show status, and
run the post-onboarding operations (audit, offboard, refresh permissions, storage check) as plain functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .catalog import DEFAULT_CATALOG, find_customer, load_catalog
from .errors import OnboardingError
from .results import StepResult

if TYPE_CHECKING:
    from .context import CustomerContext

app = typer.Typer(
    help="Onboard customers of the AKS managed application, without a Prefect server. `validate` checks the "
    "catalog (no cloud access); `plan` shows what onboarding one customer would change and `status` what is in "
    "place (both read-only); `audit`, `offboard`, `refresh-permissions` and `verify-storage` run the operations."
    "\n\n"
    "Azure access: the publisher's app registration in AZURE_TENANT_ID and AZURE_CLIENT_ID, with its secret in "
    "the file named by ONBOARDING_CLIENT_SECRET_FILE (or in AZURE_CLIENT_SECRET); without them "
    "DefaultAzureCredential is tried. Other settings (endpoints, CA bundle, budgets) are ONBOARDING_* "
    "environment variables; README 'Pointing it at real Azure' lists them.",
    epilog="Exit status: 0 done; 1 the cloud refused or failed (the message names the customer, the step and "
    "what to do); 2 invalid catalog or command line.\n\n"
    "Examples: python -m onboarding validate | python -m onboarding plan contoso | "
    "python -m onboarding status contoso fabrikam | python -m onboarding offboard contoso --apply",
    no_args_is_help=True,
    add_completion=False,
)

CatalogOption = typer.Option(DEFAULT_CATALOG, "--catalog", help="Folder of customer YAML files")
CustomerArgument = typer.Argument(..., help="Customer short name from the catalog")


# status is a quick look: a 403 there is reported, not waited out for the whole propagation budget
STATUS_PROPAGATION_BUDGET_S = 20.0


def _context(customer: str, catalog: Path, **settings: Any) -> CustomerContext:
    from .context import CustomerContext
    from .settings import get_settings

    return CustomerContext(find_customer(customer, catalog), get_settings().model_copy(update=settings))


def _operation(customer: str, catalog: Path, title: str, run: Callable[..., StepResult]) -> None:
    """Run one operation for CUSTOMER, print its report; exit 1 with the error's message when it fails."""
    from .report import operation_markdown

    try:
        result = run(_context(customer, catalog))
    except OnboardingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(operation_markdown(title=title, result=result))


@app.command()
def validate(catalog: Path = CatalogOption) -> None:
    """Validate every customer file in the catalog; errors name the file, the customer and the field."""
    try:
        specs = load_catalog(catalog)
    except OnboardingError as exc:
        typer.echo(f"invalid: {exc}", err=True)
        raise typer.Exit(2) from None
    for spec in specs:
        typer.echo(f"ok  {spec.name:<20} {spec.pod_identity.mode.value:<28} {spec.managed_application.name}")
    typer.echo(f"{len(specs)} customers valid")


@app.command()
def plan(customer: str = CustomerArgument, catalog: Path = CatalogOption) -> None:
    """Show what onboarding CUSTOMER would change, reading the cloud and writing nothing."""
    from .pipeline import run_onboarding
    from .report import onboarding_markdown

    try:
        ctx = _context(customer, catalog)
        steps, cluster = run_onboarding(ctx, dry_run=True)
    except OnboardingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        onboarding_markdown(customer=customer, outcome="planned", dry_run=True, steps=steps, cluster=cluster)
    )


@app.command()
def status(
    customers: list[str] = typer.Argument(
        None, help="Customer short names (default: every catalog customer)"
    ),
    catalog: Path = CatalogOption,
) -> None:
    """Per customer (read-only): the managed application's provisioning state, the identities on each node pool
    scale set, the pod identity objects in the cluster, and when storage access was last verified (the latest
    ama.customer.onboarded Prefect event when PREFECT_API_URL is set, else unknown)."""
    from .operations.status import customer_status

    try:
        specs = [s for s in load_catalog(catalog) if not customers or s.name in customers]
    except OnboardingError as exc:
        typer.echo(f"invalid: {exc}", err=True)
        raise typer.Exit(2) from None
    failed = False
    for spec in specs:
        ctx = _context(spec.name, catalog, propagation_budget_s=STATUS_PROPAGATION_BUDGET_S)
        found = customer_status(ctx)
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
    catalog: Path = CatalogOption,
) -> None:
    """Audit CUSTOMER's role assignments at the managed and node resource groups (read cross-tenant): expected
    and present, missing, unexpected. Writes nothing unless --delete-unexpected, which deletes only the unexpected
    ones this product can prove it made; the others are left ("left: not ours")."""
    from .operations.audit import audit_role_assignments

    _operation(
        customer,
        catalog,
        "Role assignment audit",
        lambda ctx: audit_role_assignments(ctx, delete_unexpected=delete_unexpected),
    )


@app.command()
def offboard(
    customer: str = CustomerArgument,
    apply: bool = typer.Option(False, "--apply", help="Make the changes (default: print the plan only)"),
    catalog: Path = CatalogOption,
) -> None:
    """Remove what onboarding added for CUSTOMER: this product's identities on the scale sets (every other one
    stays), its labelled pod identity objects, the chart release it installed, the federated credential and its
    provably-own role assignments. Prints the plan unless --apply. The managed application itself is kept."""
    from .operations.offboard import offboard_customer

    title = "Offboarding" if apply else "Offboarding plan"
    _operation(customer, catalog, title, lambda ctx: offboard_customer(ctx, dry_run=not apply))


@app.command("refresh-permissions")
def refresh_permissions(
    customer: str = CustomerArgument,
    target_version: str = typer.Option(
        "", "--target-version", help="Apply this application version's permissions"
    ),
    catalog: Path = CatalogOption,
) -> None:
    """POST refreshPermissions on CUSTOMER's managed application and wait for the operation to end."""
    from .operations.refresh import refresh_permissions as refresh

    _operation(
        customer,
        catalog,
        "Permission refresh",
        lambda ctx: refresh(ctx, target_version=target_version or None),
    )


@app.command("verify-storage")
def verify_storage(customer: str = CustomerArgument, catalog: Path = CatalogOption) -> None:
    """List and read CUSTOMER's ADLS Gen2 storage from here as the application's identity (listTokens); read-only."""
    from .operations.storage_check import verify_storage as check

    _operation(customer, catalog, "Storage check from the publisher", check)
