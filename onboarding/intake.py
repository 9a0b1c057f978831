"""Intake on purchase: from a managed application Azure announced to the catalog entry that onboards it.

The application is read as the publisher (plan or definition, parameters, outputs, managed resource group); the
customer's tenant is the tenant of the application's identity. The proposal is a ``CustomerSpec`` that adopts
the application as deployed (``adopt_only``: the customer bought it, the product never creates it), with the
template's parameters mapped back to the spec's fields, and the YAML to commit. Writing it into the catalog
folder (the one truth) is a separate, explicit call: automatic intake is a setting.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from azure.core.credentials import TokenCredential
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient

from .azure import identities, managed_app
from .azure.clients import make_client
from .azure.roles import NODE_ROLE_GUIDS
from .catalog import load_catalog
from .errors import PermanentError, azure_errors
from .ids import ResourceId
from .models import CustomerSpec, NodeRole, PodIdentityMode, load_customer_spec
from .settings import Settings

PROVISIONED = "ama.application.provisioned"
FAILED = "ama.application.failed"
DELETED = "ama.application.deleted"
PROPOSED = "ama.customer.proposed"
STEP = "intake"
APPLICATIONS = "Microsoft.Solutions/applications"
NAME_MAX = 32


@dataclass(frozen=True)
class Application:
    """What the publisher reads of a deployed managed application."""

    id: str
    location: str
    plan: dict[str, str] | None
    definition_id: str | None
    parameters: dict[str, Any]
    outputs: dict[str, Any]
    managed_resource_group_id: str
    provisioning_state: str
    tenant_id: str | None

    @property
    def name(self) -> str:
        return ResourceId(self.id).name

    @property
    def identity_id(self) -> str | None:
        value = self.outputs.get("identityResourceId")
        return str(value) if value else None


def catalog_customer(app_id: str, directory: Path) -> CustomerSpec | None:
    """The catalog customer whose spec names this application, else None."""
    wanted = ResourceId(app_id)
    return next(
        (s for s in load_catalog(directory) if ResourceId(managed_app.application_id(s)) == wanted), None
    )


def _values(parameters: dict[str, Any]) -> dict[str, Any]:
    """ARM's ``{"name": {"value": v}}`` (or ``{"name": {"type": ..., "value": v}}``) as ``{"name": v}``."""
    return {k: v.get("value") if isinstance(v, dict) else v for k, v in (parameters or {}).items()}


def read_application(app_id: str, settings: Settings, credential: TokenCredential) -> Application:
    """The application as the publisher reads it; the customer's tenant from its identity (None when the
    application names no identity or the publisher cannot read it)."""
    rid = ResourceId(app_id).require(APPLICATIONS)
    subscription = str(rid.subscription)
    resources = make_client(ResourceManagementClient, credential, subscription, settings)
    with azure_errors(customer=None, step=STEP, action=f"read managed application {rid.name}"):
        found = managed_app.get_application(resources, str(rid))
    if found is None:
        raise PermanentError(f"managed application {app_id} does not exist", step=STEP)
    props = found.properties or {}
    plan = found.plan.as_dict() if found.plan is not None else None
    app = Application(
        id=str(found.id or rid),
        location=str(found.location or ""),
        plan={k: str(v) for k, v in plan.items() if k in ("name", "publisher", "product", "version")}
        if plan
        else None,
        definition_id=props.get("applicationDefinitionId"),
        parameters=_values(props.get("parameters") or {}),
        outputs=managed_app.outputs_of(found),
        managed_resource_group_id=str(props.get("managedResourceGroupId") or ""),
        provisioning_state=managed_app.state_of(found),
        tenant_id=None,
    )
    if app.identity_id is None:
        return app
    msi = make_client(ManagedServiceIdentityClient, credential, subscription, settings)
    with azure_errors(customer=None, step=STEP, action=f"read the application's identity {app.identity_id}"):
        tenant = identities.get_identity(msi, app.identity_id).tenant_id
    return Application(**{**app.__dict__, "tenant_id": tenant})


def customer_name(app_name: str, taken: set[str]) -> str:
    """A catalog name from the application's name (lower case, dashes), unique among ``taken``."""
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", app_name.lower())).strip("-")
    base = (base if base[:1].isalpha() else f"c-{base}")[:NAME_MAX].rstrip("-")
    base = base if len(base) >= 3 else f"{base}-customer"
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[: NAME_MAX - len(suffix)].rstrip("-") + suffix
    return name


def _pod_identity_mode(parameters: dict[str, Any]) -> PodIdentityMode:
    if parameters.get("enableWorkloadIdentity"):
        return PodIdentityMode.WORKLOAD_IDENTITY
    if parameters.get("assignKubeletRoles"):
        return PodIdentityMode.AAD_POD_IDENTITY_STANDARD
    return PodIdentityMode.AAD_POD_IDENTITY_MANAGED


def _node_role(parameters: dict[str, Any]) -> NodeRole:
    definition = str(parameters.get("identityNodeRoleDefinitionId") or "").rsplit("/", 1)[-1].lower()
    return next(
        (role for role, guid in NODE_ROLE_GUIDS.items() if guid.lower() == definition),
        NodeRole.VIRTUAL_MACHINE_CONTRIBUTOR,
    )


def propose_spec(app: Application, taken: set[str]) -> CustomerSpec:
    """The catalog entry that adopts ``app`` as deployed; PermanentError naming what the application lacks."""
    if app.tenant_id is None:
        raise PermanentError(
            f"the customer's tenant of application {app.name} is unknown (no readable identity output)",
            step=STEP,
            hint="write the catalog entry by hand with the customer's tenant_id",
        )
    rid = ResourceId(app.id)
    params = app.parameters
    name = customer_name(app.name, taken)
    mrg = ResourceId(app.managed_resource_group_id).name if app.managed_resource_group_id else None
    application: dict[str, Any] = {
        "name": app.name,
        "resource_group": rid.resource_group,
        "adopt_only": True,
        "parameters": {
            "aks_name": params.get("aksName") or app.outputs.get("aksName"),
            "node_resource_group": params.get("nodeResourceGroup"),
            **{
                k: params[p]
                for k, p in (("node_count", "nodeCount"), ("cross_tenant", "crossTenant"))
                if p in params
            },
        },
    }
    if app.plan:
        application["plan"] = app.plan
    elif app.definition_id:
        application["definition_id"] = app.definition_id
    if mrg and mrg != f"{app.name}-mrg":
        application["managed_resource_group"] = mrg
    data = {
        "name": name,
        "tenant_id": app.tenant_id,
        "subscription_id": rid.subscription,
        "location": app.location,
        "node_role": _node_role(params).value,
        "managed_application": application,
        "pod_identity": {"mode": _pod_identity_mode(params).value},
    }
    return load_customer_spec(data, source=f"application {app.id}")


def spec_yaml(spec: CustomerSpec, app: Application) -> str:
    """The catalog file to commit: the fields that differ from the defaults, under a comment naming the source."""
    origin = (
        "plan " + "/".join(app.plan[k] for k in ("publisher", "product", "name", "version"))
        if app.plan
        else (
            f"definition {ResourceId(app.definition_id).name}"
            if app.definition_id
            else "no plan or definition"
        )
    )
    body = yaml.safe_dump(
        spec.model_dump(mode="json", exclude_defaults=True, exclude_none=True), sort_keys=False, width=120
    )
    return (
        f"# Proposed by intake from managed application {app.id}\n"
        f"# ({origin}): adopted as the customer deployed it. Review, then commit.\n{body}"
    )


def write_entry(spec: CustomerSpec, text: str, directory: Path) -> Path:
    """Write ``<directory>/<name>.yaml``, never over an existing file; all or nothing (a temporary file
    hard-linked into place)."""
    path = directory / f"{spec.name}.yaml"
    temporary = directory / f".{spec.name}.yaml.{os.getpid()}.tmp"
    temporary.write_text(text)
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise PermanentError(
            f"the catalog already has {path.name}",
            customer=spec.name,
            step=STEP,
            hint="compare it with the proposal and edit it by hand",
        ) from None
    finally:
        temporary.unlink()
    return path


def error_lines(error: Any) -> list[str]:
    """An ARM error (``{code, message, details: [...]}``) as one ``code: message`` line per error, outermost first."""
    if not isinstance(error, dict):
        return [str(error)] if error else []
    lines = [f"{error.get('code') or '?'}: {error.get('message') or 'no message'}"]
    for detail in error.get("details") or []:
        lines += [f"  {line}" for line in error_lines(detail)]
    return lines


def failure_markdown(app_id: str, error: Any, state: str | None) -> str:
    """The report of a failed deployment (or deletion): the error Azure sent, and the application's state."""
    lines = error_lines(error) or ["the notification carried no error; see the application's deployment"]
    return "\n".join(
        [
            f"# Managed application failed: {ResourceId(app_id).name}",
            "",
            f"Application `{app_id}`, provisioning state now: {state or 'unknown (not readable)'}.",
            "",
            "```",
            *lines,
            "```",
        ]
    )


def proposal_markdown(spec: CustomerSpec, text: str, app: Application, written: Path | None) -> str:
    where = (
        f"Written to the catalog as `{written}`; its onboarding was started."
        if written
        else "Commit it to the catalog as "
        f"`{spec.name}.yaml` (or enable automatic intake, ONBOARDING_INTAKE_AUTO=true)."
    )
    return "\n".join(
        [
            f"# Catalog entry proposed: {spec.name}",
            "",
            f"Application `{app.id}` ({app.provisioning_state}) is not in the catalog. {where}",
            "",
            "```yaml",
            text.rstrip(),
            "```",
        ]
    )
