"""What a managed application deployment creates (the seed's mainTemplate.json), and its role assignments.

Used by the Microsoft.Solutions routes (PUT, refreshPermissions) and by the admin API (a customer that
already bought the application from the Marketplace).
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .. import authz
from ..state import Principal, World, key, new_guid
from .authorization import find_assignment, platform_assign
from .base import ArmError, rg_id
from .containerservice import KUBERNETES_VERSION, MC_TYPE, create_pool_vmss, pool_body
from .msi import UAI_TYPE, create_identity, tenant_of_subscription
from .resources import resource_group_body
from .storage import SA_TYPE, storage_account_body

APP_TYPE = "Microsoft.Solutions/applications"
_AKS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_RG_NAME = re.compile(r"^[-\w._()]{1,90}$")
_ROLE_NAMES = {r.role_name.lower(): r.id for r in authz.BUILTIN_ROLES}


@dataclass(frozen=True)
class AppSpec:
    """The application's parameters, validated, with the template's defaults."""

    aks_name: str
    node_resource_group: str
    identity_name: str
    node_role_guid: str
    assign_kubelet_roles: bool
    node_count: int
    cross_tenant: bool
    workload_identity: bool


def _param(parameters: dict[str, Any], name: str, default: Any = None) -> Any:
    for k, v in parameters.items():
        if k.lower() == name.lower():
            return v.get("value", default) if isinstance(v, dict) else v
    return default


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ArmError(400, "InvalidTemplate", f"The template parameter '{name}' must be a bool.")


def _role_guid(value: str) -> str:
    guid = value.rstrip("/").rsplit("/", 1)[-1].lower()
    if guid in {r.id for r in authz.BUILTIN_ROLES}:
        return guid
    if value.lower() in _ROLE_NAMES:
        return _ROLE_NAMES[value.lower()]
    raise ArmError(400, "InvalidTemplate", f"Unknown role '{value}' in identityNodeRoleDefinitionId.")


def parse_spec(parameters: dict[str, Any], managed_rg_name: str) -> AppSpec:
    aks_name = _param(parameters, "aksName")
    if not isinstance(aks_name, str) or not _AKS_NAME.match(aks_name):
        raise ArmError(
            400,
            "InvalidTemplate",
            "The template parameter 'aksName' is required: 1-63 letters, digits and hyphens.",
        )
    node_rg = str(_param(parameters, "nodeResourceGroup") or f"{managed_rg_name}-aks-rg")
    if not _RG_NAME.match(node_rg):
        raise ArmError(400, "InvalidTemplate", f"The node resource group name '{node_rg}' is not valid.")
    node_count = _param(parameters, "nodeCount", 1)
    if not isinstance(node_count, int) or not 1 <= node_count <= 100:
        raise ArmError(400, "InvalidTemplate", "The template parameter 'nodeCount' must be an int 1..100.")
    role = _param(parameters, "identityNodeRoleDefinitionId") or _param(parameters, "identityNodeRoleName")
    return AppSpec(
        aks_name=aks_name,
        node_resource_group=node_rg,
        identity_name=str(_param(parameters, "identityName") or f"{aks_name}-identity"),
        node_role_guid=_role_guid(str(role)) if role else authz.VIRTUAL_MACHINE_CONTRIBUTOR,
        assign_kubelet_roles=_as_bool(_param(parameters, "assignKubeletRoles", True), "assignKubeletRoles"),
        node_count=node_count,
        cross_tenant=_as_bool(_param(parameters, "crossTenant", True), "crossTenant"),
        workload_identity=_as_bool(
            _param(parameters, "enableWorkloadIdentity", _param(parameters, "enableOidcIssuer", True)),
            "enableWorkloadIdentity",
        ),
    )


@dataclass(frozen=True)
class AppIds:
    app: str
    managed_rg: str
    node_rg: str
    identity: str
    kubelet: str
    cluster: str
    storage: str

    @classmethod
    def of(cls, app: dict[str, Any], spec: AppSpec) -> AppIds:
        mrg = app["properties"]["managedResourceGroupId"]
        sub = mrg.split("/")[2]
        node_rg = rg_id(sub, spec.node_resource_group)
        return cls(
            app=app["id"],
            managed_rg=mrg,
            node_rg=node_rg,
            identity=f"{mrg}/providers/{UAI_TYPE}/{spec.identity_name}",
            kubelet=f"{node_rg}/providers/{UAI_TYPE}/{spec.aks_name}-agentpool",
            cluster=f"{mrg}/providers/{MC_TYPE}/{spec.aks_name}",
            storage=f"{mrg}/providers/{SA_TYPE}/{storage_account_name(spec.aks_name, mrg)}",
        )


def storage_account_name(aks_name: str, managed_rg_id: str) -> str:
    """``concat(aksName, uniqueString(resourceGroup().id))``: lower-case letters and digits, at most 24."""
    prefix = re.sub(r"[^a-z0-9]", "", aks_name.lower())[:11]
    return prefix + hashlib.sha256(key(managed_rg_id).encode()).hexdigest()[:13]


def spec_of(app: dict[str, Any]) -> AppSpec:
    mrg_name = app["properties"]["managedResourceGroupId"].rstrip("/").rsplit("/", 1)[-1]
    return parse_spec(app["properties"].get("parameters") or {}, mrg_name)


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


def template_assignments(world: World, app: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    """(scope, role guid, principal id, delegatedManagedIdentityResourceId) the deployment makes."""
    spec = spec_of(app)
    ids = AppIds.of(app, spec)
    identity = world.get(ids.identity)
    kubelet = world.get(ids.kubelet)
    if identity is None or kubelet is None:
        raise ArmError(409, "ApplicationNotDeployed", "The managed application's resources do not exist yet.")
    uai_principal = identity["properties"]["principalId"]
    kubelet_principal = kubelet["properties"]["principalId"]
    delegated_uai = ids.identity if spec.cross_tenant else None
    delegated_kubelet = ids.kubelet if spec.cross_tenant else None
    wanted: list[tuple[str, str, str, str | None]] = [
        (ids.managed_rg, authz.OWNER, uai_principal, delegated_uai),
        (ids.node_rg, spec.node_role_guid, uai_principal, delegated_uai),
    ]
    if spec.assign_kubelet_roles:
        wanted += [
            (ids.node_rg, authz.MANAGED_IDENTITY_OPERATOR, kubelet_principal, delegated_kubelet),
            (ids.node_rg, authz.VIRTUAL_MACHINE_CONTRIBUTOR, kubelet_principal, delegated_kubelet),
        ]
    wanted += [
        (ids.managed_rg, role, principal, None) for principal, role in publisher_authorizations(world, app)
    ]
    return wanted


def ensure_assignments(world: World, app: dict[str, Any], effective_in_s: float) -> int:
    """Create the template's role assignments that are missing; returns how many were created."""
    created = 0
    with world.lock:
        for scope, role, principal, delegated in template_assignments(world, app):
            if find_assignment(world, scope, role, principal) is None:
                name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key(scope)}|{role}|{principal.lower()}"))
                platform_assign(
                    world,
                    scope,
                    role,
                    principal,
                    name=name,
                    delegated=delegated,
                    effective_in_s=effective_in_s,
                    created_by="Microsoft.Solutions",
                )
                created += 1
    return created


def _cluster_body(
    world: World, ids: AppIds, spec: AppSpec, location: str, kubelet: dict[str, Any], control_plane: Principal
) -> dict[str, Any]:
    issuer = f"{world.urls['aad']}/oidc/{new_guid()}/"
    return {
        "id": ids.cluster,
        "name": spec.aks_name,
        "type": MC_TYPE,
        "location": location,
        "identity": {
            "type": "SystemAssigned",
            "principalId": control_plane.object_id,
            "tenantId": control_plane.tenant_id,
        },
        "sku": {"name": "Base", "tier": "Free"},
        "properties": {
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "kubernetesVersion": KUBERNETES_VERSION,
            "currentKubernetesVersion": KUBERNETES_VERSION,
            "dnsPrefix": spec.aks_name,
            "fqdn": f"{spec.aks_name.lower()}.hcp.{location}.azmk8s.io",
            "nodeResourceGroup": spec.node_resource_group,
            "enableRBAC": True,
            "identityProfile": {
                "kubeletidentity": {
                    "resourceId": kubelet["id"],
                    "clientId": kubelet["properties"]["clientId"],
                    "objectId": kubelet["properties"]["principalId"],
                }
            },
            # Azure's key is issuerURL; issuerUrl is the sandbox-internal alias other services read.
            "oidcIssuerProfile": (
                {"enabled": True, "issuerURL": issuer, "issuerUrl": issuer}
                if spec.workload_identity
                else {"enabled": False}
            ),
            "securityProfile": {"workloadIdentity": {"enabled": spec.workload_identity}},
            "networkProfile": {
                "networkPlugin": "kubenet",
                "loadBalancerSku": "standard",
                "outboundType": "loadBalancer",
                "podCidr": "10.244.0.0/16",
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.0.0.10",
            },
            "nodeResourceGroupProfile": {"restrictionLevel": "Unrestricted"},
        },
        "_sandbox": {"operation": None},
    }


def deploy(world: World, app_id: str, *, instant: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """Create everything the template creates; returns the events to publish (after the lock is released).

    ``instant``: an application deployed long ago (its principals replicated, its assignments effective).
    """
    created_at = time.time() - 3600 if instant else None
    with world.lock:
        app = world.get(app_id)
        if app is None:
            raise ArmError(404, "ResourceNotFound", f"The application '{app_id}' no longer exists.")
        spec = spec_of(app)
        ids = AppIds.of(app, spec)
        sub = ids.managed_rg.split("/")[2]
        location = app["location"]
        if world.get(ids.node_rg) is not None:
            raise ArmError(
                400,
                "InvalidTemplateDeployment",
                f"The node resource group '{spec.node_resource_group}' already exists.",
            )
        world.put(resource_group_body(sub, ids.managed_rg.rsplit("/", 1)[-1], location, managed_by=app_id))
        create_identity(world, ids.identity, location, created_at=created_at)
        world.put(resource_group_body(sub, spec.node_resource_group, location, managed_by=ids.cluster))
        kubelet = create_identity(world, ids.kubelet, location, created_at=created_at)
        control_plane = world.add_principal(
            Principal(
                object_id=new_guid(),
                tenant_id=tenant_of_subscription(world, app_id),
                kind="ManagedIdentity",
                client_id=new_guid(),
                display_name=spec.aks_name,
                created_at=created_at or time.time(),
            )
        )
        cluster = world.put(_cluster_body(world, ids, spec, location, kubelet, control_plane))
        pool = world.put(
            pool_body(ids.cluster, "nodepool1", spec.node_count, "System", "Standard_DS2_v2", "Succeeded")
        )
        vmss_event = create_pool_vmss(world, cluster, pool)
        world.put(storage_account_body(world, ids.storage, location))
        ensure_assignments(world, app, 0.0 if instant else world.timing.role_propagation_s)
        identity = world.get(ids.identity)
        assert identity is not None
        principals = [
            identity["properties"]["principalId"],
            kubelet["properties"]["principalId"],
            control_plane.object_id,
        ]
        publishers = [p for p, _ in publisher_authorizations(world, app)]
        world.resources[key(ids.managed_rg)]["_sandbox"] = {"deny_except": principals + publishers}
        world.resources[key(ids.node_rg)]["_sandbox"] = {"deny_except": principals}
        app["identity"] = {
            "type": "UserAssigned",
            "userAssignedIdentities": {
                ids.identity: {
                    "principalId": identity["properties"]["principalId"],
                    "clientId": identity["properties"]["clientId"],
                }
            },
        }
        app["properties"]["outputs"] = {
            name: {"type": "String", "value": value}
            for name, value in {
                "aksName": spec.aks_name,
                "nodeResourceGroup": spec.node_resource_group,
                "identityResourceId": ids.identity,
                "identityClientId": identity["properties"]["clientId"],
                "identityPrincipalId": identity["properties"]["principalId"],
                "storageAccountName": ids.storage.rsplit("/", 1)[-1],
                "clusterResourceId": ids.cluster,
            }.items()
        }
        app["properties"]["provisioningState"] = "Succeeded"
    return [
        ("cluster.created", {"cluster_id": ids.cluster}),
        ("vmss.created", vmss_event),
        ("storage.created", {"account_id": ids.storage, "name": ids.storage.rsplit("/", 1)[-1]}),
    ]


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
