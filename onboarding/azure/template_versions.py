"""Which version of the package (templates/) a customer's application runs, read from the application, and what
that version grants at deployment time.

A Marketplace application runs its plan's version (``plan.version``; ``refreshPermissions`` with ``targetVersion``
moves it). A service catalog application reports its template's ``contentVersion`` in the ``templateVersion``
output since 1.2.0; a template without that output is older (``BEFORE_VERSIONS``). Version 1.2.0 is the first whose
template grants the application's identity Storage Blob Data Reader on its storage account; before it, onboarding
makes that grant after the deployment.
"""

from __future__ import annotations

from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources.models import GenericResource

from .managed_app import get_application, outputs_of

BEFORE_VERSIONS = "1.1.0"
STORAGE_READER_IN_TEMPLATE = (1, 2, 0)


def _parts(version: str) -> tuple[int, ...]:
    """``"1.2.0.0"`` -> ``(1, 2, 0)``: a plan's semantic version and a template's four-part contentVersion compare
    on their first three numbers."""
    return tuple(int(p) for p in version.split(".")[:3] if p.isdigit())


def application_version(app: GenericResource) -> str:
    """The package version the application runs: its plan's, else its template's ``templateVersion`` output."""
    plan = getattr(app, "plan", None)
    if plan is not None and plan.version:
        return str(plan.version)
    reported = outputs_of(app).get("templateVersion")
    if not reported:
        return BEFORE_VERSIONS
    return ".".join(str(p) for p in _parts(str(reported)))


def grants_storage_reader(version: str) -> bool:
    """Whether the version's template grants Storage Blob Data Reader at deployment time."""
    return _parts(version) >= STORAGE_READER_IN_TEMPLATE


def read_version(client: ResourceManagementClient, app_id: str) -> str:
    """The version of the application ``app_id`` (one GET); ``BEFORE_VERSIONS`` when it is not there."""
    app = get_application(client, app_id)
    return application_version(app) if app is not None else BEFORE_VERSIONS
