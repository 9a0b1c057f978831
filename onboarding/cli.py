"""Command line for operators: validate the catalog, plan one customer, without a Prefect server."""

from __future__ import annotations

from pathlib import Path

import typer

from .catalog import DEFAULT_CATALOG, find_customer, load_catalog
from .errors import OnboardingError

app = typer.Typer(
    help="Onboard customers of the AKS managed application. `validate` checks the catalog, `plan` shows what "
    "onboarding one customer would change (read-only). Settings come from ONBOARDING_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
)

CatalogOption = typer.Option(DEFAULT_CATALOG, "--catalog", help="Folder of customer YAML files")


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
def plan(
    customer: str = typer.Argument(..., help="Customer short name from the catalog"),
    catalog: Path = CatalogOption,
) -> None:
    """Show what onboarding CUSTOMER would change, reading the cloud and writing nothing."""
    from .context import CustomerContext
    from .pipeline import run_onboarding
    from .report import onboarding_markdown
    from .settings import get_settings

    try:
        spec = find_customer(customer, catalog)
        steps, cluster = run_onboarding(CustomerContext(spec, get_settings()), dry_run=True)
    except OnboardingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        onboarding_markdown(customer=spec.name, outcome="planned", dry_run=True, steps=steps, cluster=cluster)
    )
