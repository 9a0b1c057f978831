"""A managed application's deployment: the package's ``mainTemplate.json`` executed by the template engine.

What the Managed Applications service does for a PUT, in order: it creates the managed resource group
(``managedBy`` the application), gives the publisher the definition's (or plan's) authorizations there, deploys the
package's template there as itself, and, once it succeeded, puts the deny assignment that keeps the customer out
(excluding the publisher and the identities the deployment created). A failed deployment fails the application
with ``ApplianceDeploymentFailed`` naming the deployment to look at (wording from an Azure answer quoted in
MicrosoftDocs/azure-docs issue 78234). Nothing here creates a resource the template does not declare: identities,
the cluster with its node resource group and scale sets, the storage account and every role assignment are made
by the ARM handlers the template's resources are sent to.

Packages: a service catalog definition carries its template inline (``properties.mainTemplate``, as the
applicationDefinitions API accepts it); the sandbox publishes one Marketplace offer whose plan versions deploy
this repository's packages: 1.2.0 and later ``templates/`` (the current package), earlier ones ``templates/1.1.0/``
(the package before the template granted Storage Blob Data Reader), as Partner Center keeps every published plan
version's package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import authz
from ..state import Principal, World, key, new_guid
from .authorization import find_assignment, platform_assign
from .base import ArmError, rg_id
from .containerservice import MC_TYPE
from .lro import Operation, Operations
from .msi import UAI_TYPE, tenant_of_subscription
from .notifications import for_world as notifier_of
from .resources import resource_group_body
from .template.dispatch import Dispatcher
from .template.engine import Run, TemplateDeployment, deploy_record
from .template.jsonpos import loads_with_positions

APP_TYPE = "Microsoft.Solutions/applications"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "templates"
CURRENT_PLAN_VERSION = (1, 2, 0)
PREVIOUS_PACKAGE_DIR = PACKAGE_DIR / "1.1.0"
_LONG_AGO_S = 3600.0


def package_template(world: World, app: dict[str, Any]) -> tuple[dict[str, Any], dict[Any, tuple[int, int]]]:
    """The application's ``mainTemplate`` and the positions of its values (for ARM's line numbers)."""
    definition_id = app["properties"].get("applicationDefinitionId")
    if definition_id:
        definition = world.get(definition_id)
        if definition is None:
            raise ArmError(
                404,
                "ApplicationDefinitionNotFound",
                f"The application definition '{definition_id}' could not be found.",
            )
        text = definition.get("_sandbox", {}).get("main_template_text")
        if text is None:
            return definition["properties"]["mainTemplate"], {}
    else:
        text = (plan_package(app["plan"]["version"]) / "mainTemplate.json").read_text()
    template, positions = loads_with_positions(text)
    return template, positions


def plan_package(version: str) -> Path:
    """The package a plan version of the sandbox's offer deploys."""
    parts = tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
    return PACKAGE_DIR if parts >= CURRENT_PLAN_VERSION else PREVIOUS_PACKAGE_DIR


def publisher_authorizations(world: World, app: dict[str, Any]) -> list[tuple[str, str]]:
    """(principal id, role guid) pairs the publisher gets on the managed resource group."""
    definition_id = app["properties"].get("applicationDefinitionId")
    definition = world.get(definition_id) if definition_id else None
    if definition is not None:
        return [
            (a["principalId"], a["roleDefinitionId"].rsplit("/", 1)[-1].lower())
            for a in definition["properties"].get("authorizations", [])
        ]
    assert world.publisher is not None
    return [(world.publisher.object_id, authz.OWNER)]


def ensure_publisher_authorizations(world: World, app: dict[str, Any]) -> int:
    """Give the publisher what the definition or plan authorizes on the managed resource group (what
    ``refreshPermissions`` re-applies); returns how many assignments were made."""
    mrg = app["properties"]["managedResourceGroupId"]
    made = 0
    with world.lock:
        for principal, role in publisher_authorizations(world, app):
            if find_assignment(world, mrg, role, principal) is None:
                platform_assign(
                    world,
                    mrg,
                    role,
                    principal,
                    name=new_guid(),
                    effective_in_s=world.timing.role_propagation_s,
                    created_by="Microsoft.Solutions",
                )
                made += 1
    return made


def _appliance_principal(world: World, app_id: str) -> Principal:
    """The Managed Applications service, acting in the customer's subscription (its rights are internal to Azure)."""
    sub = app_id.split("/")[2]
    return world.add_principal(
        Principal(
            object_id=new_guid(),
            tenant_id=tenant_of_subscription(world, app_id),
            kind="ServicePrincipal",
            client_id=new_guid(),
            display_name="Appliance Resource Provider",
            platform_scope=f"/subscriptions/{sub}",
        )
    )


def _deployment(
    world: World, dispatcher: Dispatcher, app: dict[str, Any], principal: Principal
) -> TemplateDeployment:
    mrg = app["properties"]["managedResourceGroupId"]
    sub, mrg_name = mrg.split("/")[2], mrg.rstrip("/").rsplit("/", 1)[-1]
    template, positions = package_template(world, app)
    parameters = app["properties"].get("parameters") or {}
    run = Run(world, dispatcher, principal, principal.tenant_id, positions)
    record = {"name": app["name"], "properties": {}, "_sandbox": {"operations": []}}
    return TemplateDeployment(
        run,
        record=record,
        subscription_id=sub,
        resource_group=mrg_name,
        template=template,
        parameters=parameters,
        path=(),
    )


def validate(world: World, dispatcher: Dispatcher, app: dict[str, Any]) -> None:
    """The template's validation for this application's parameters (before the PUT is accepted)."""
    principal = Principal(
        object_id="00000000-0000-0000-0000-000000000000",
        tenant_id="",
        kind="ServicePrincipal",
        client_id="",
        display_name="validation",
        platform_scope=f"/subscriptions/{app['id'].split('/')[2]}",
    )
    _deployment(world, dispatcher, app, principal).validate()


def start(world: World, dispatcher: Dispatcher, ops: Operations, app_id: str) -> Operation:
    return ops.start_thread("application.put", lambda: _provision(world, dispatcher, app_id))


def _provision(world: World, dispatcher: Dispatcher, app_id: str) -> None:
    """A PUT's deployment, told to the publisher's notification endpoint: Accepted once the managed resource
    group exists, then Succeeded or Failed (with the error)."""
    notifier = notifier_of(world)
    try:
        deploy(world, dispatcher, app_id, on_accepted=lambda app: notifier.notify(app, "PUT", "Accepted"))
    except ArmError as exc:
        app = world.get(app_id)
        if app is not None:
            notifier.notify(app, "PUT", "Failed", exc.as_error())
        raise
    app = world.get(app_id)
    if app is not None:
        notifier.notify(app, "PUT", "Succeeded")


def deploy(
    world: World,
    dispatcher: Dispatcher,
    app_id: str,
    *,
    instant: bool = False,
    on_accepted: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Run the application's deployment; a failure marks it Failed and raises ARM's error for it.

    ``instant``: an application deployed long ago (principals replicated, role assignments effective).
    ``on_accepted``: called once the managed resource group exists, before the template is deployed."""
    started = time.time()
    try:
        if instant:
            with world.instantly():
                _deploy(world, dispatcher, app_id)
            _as_if_long_ago(world, app_id, started)
        else:
            _deploy(world, dispatcher, app_id, on_accepted)
    except ArmError:
        with world.lock:
            app = world.get(app_id)
            if app is not None:
                app["properties"]["provisioningState"] = "Failed"
        raise


def _deploy(
    world: World,
    dispatcher: Dispatcher,
    app_id: str,
    on_accepted: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    app = world.get(app_id)
    if app is None:
        raise ArmError(404, "ResourceNotFound", f"The application '{app_id}' no longer exists.")
    mrg = app["properties"]["managedResourceGroupId"]
    sub, mrg_name = mrg.split("/")[2], mrg.rstrip("/").rsplit("/", 1)[-1]
    with world.lock:
        world.put(resource_group_body(sub, mrg_name, app["location"], managed_by=app_id))
    ensure_publisher_authorizations(world, app)
    if on_accepted is not None:
        on_accepted(app)
    principal = _appliance_principal(world, app_id)
    deployment = _deployment(world, dispatcher, app, principal)
    record = deploy_record(
        world,
        sub,
        mrg_name,
        app["name"],
        deployment.template,
        app["properties"].get("parameters") or {},
        mode="Incremental",
    )
    deployment.record = record
    try:
        outputs = deployment.run_to_end()
    except ArmError as exc:
        error = exc.as_error()
        raise ArmError(
            400,
            "ApplianceDeploymentFailed",
            f"The operation to create appliance failed. Please check operations of deployment '{record['name']}' "
            f"under resource group '{mrg}'. Error message: '{error['message']}'",
            details=error.get("details") or [error],
        ) from exc
    with world.lock:
        _lock_down(world, app, principal)
        app["properties"]["outputs"] = outputs
        app["properties"]["provisioningState"] = "Succeeded"


def _lock_down(world: World, app: dict[str, Any], appliance: Principal) -> None:
    """The deny assignments: the managed resource group (and the node resource group of every cluster in it)
    refuse writes except by the identities the deployment created, the publisher and the service itself.
    The application exposes the managed resource group's user-assigned identities as its own, for listTokens."""
    mrg = app["properties"]["managedResourceGroupId"]
    identities = world.children(mrg, UAI_TYPE)
    node_rgs = []
    created = [i["properties"]["principalId"] for i in identities]
    for cluster in world.children(mrg, MC_TYPE):
        node_rg = rg_id(cluster["id"].split("/")[2], cluster["properties"]["nodeResourceGroup"])
        node_rgs.append(node_rg)
        created += [i["properties"]["principalId"] for i in world.children(node_rg, UAI_TYPE)]
        created += [cluster.get("identity", {}).get("principalId", "")]
    publishers = [p for p, _ in publisher_authorizations(world, app)]
    world.resources[key(mrg)]["_sandbox"] = {"deny_except": [*created, *publishers, appliance.object_id]}
    for node_rg in node_rgs:
        world.resources[key(node_rg)]["_sandbox"] = {"deny_except": [*created, appliance.object_id]}
    if identities:
        app["identity"] = {
            "type": "UserAssigned",
            "userAssignedIdentities": {
                i["id"]: {
                    "principalId": i["properties"]["principalId"],
                    "clientId": i["properties"]["clientId"],
                }
                for i in identities
            },
        }


def _as_if_long_ago(world: World, app_id: str, since: float) -> None:
    """Backdate what an instant deployment made: principals out of their PrincipalNotFound window, role
    assignments effective."""
    sub_prefix = f"/subscriptions/{app_id.split('/')[2]}".lower()
    tenant = tenant_of_subscription(world, app_id)
    with world.lock:
        for principal in world.principals.values():
            if principal.tenant_id == tenant and principal.created_at >= since:
                principal.created_at -= _LONG_AGO_S
        for ra in world.role_assignments.values():
            if key(ra.scope).startswith(sub_prefix) and ra.created_at >= since:
                ra.created_at -= _LONG_AGO_S
                ra.effective_at = min(ra.effective_at, time.time())


def remove(world: World, app_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Delete the application, its managed and node resource groups, their resources and role assignments."""
    with world.lock:
        app = world.get(app_id)
        if app is None:
            return []
        doomed = [app["properties"]["managedResourceGroupId"]]
        cluster_ids = [c["id"] for c in world.children(doomed[0], MC_TYPE)]
        for cluster_id in cluster_ids:
            cluster = world.get(cluster_id)
            if cluster is not None:
                sub = cluster_id.split("/")[2]
                doomed.append(rg_id(sub, cluster["properties"]["nodeResourceGroup"]))
        for scope in doomed:
            for child in world.children(scope):
                world.delete(child["id"])
            world.delete(scope)
            for ra_key in [
                k for k, ra in world.role_assignments.items() if authz.scope_covers(scope, ra.scope)
            ]:
                del world.role_assignments[ra_key]
        world.delete(app_id)
    return [("cluster.deleted", {"cluster_id": c}) for c in cluster_ids]


def publish_all(world: World, events: list[tuple[str, dict[str, Any]]]) -> None:
    for name, data in events:
        world.publish(name, **data)
