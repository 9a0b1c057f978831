"""A customer of the e2e modules' own: registered in the sandbox, written to the worker's catalog and onboarded
through the ``onboard-customer/fleet`` deployment (as the fleet's child runs are)."""

from __future__ import annotations

from pathlib import Path

from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tools.customers import register_customer, write_catalog_entry
from tools.stack import PrefectStack


def onboarded_through_prefect(
    box: SandboxProcess, stack: PrefectStack, catalog: Path, spec: CustomerSpec
) -> CustomerSpec:
    register_customer(box, spec)
    write_catalog_entry(catalog, spec)
    name = "onboard-customer/fleet"
    run = stack.run_deployments([name], parameters={"customer": spec.name, "dry_run": False})[name]
    assert run.state.is_completed(), run.state.message
    return spec
