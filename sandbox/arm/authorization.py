"""Microsoft.Authorization: role assignments (api 2022-04-01 shape) and role definitions, at any scope."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from .. import authz
from ..httpd import Response, json_response
from ..state import RoleAssignment, RoleDefinition, World, key
from .base import ArmError, ArmRouter, Call, now_iso, paged, require, require_write

RA_TYPE = "Microsoft.Authorization/roleAssignments"
RD_TYPE = "Microsoft.Authorization/roleDefinitions"
SCOPE = r"(?P<scope>(/.*)?)"
PRINCIPAL_TYPES = {"User", "Group", "ServicePrincipal", "ForeignGroup", "Device"}
_SUB_OF = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_FILTER_PRINCIPAL = re.compile(r"(?:principalId\s+eq|assignedTo\()\s*'([^']+)'", re.IGNORECASE)
_FILTER_ROLE_NAME = re.compile(r"roleName\s+eq\s+'([^']+)'", re.IGNORECASE)


def definition_id(scope: str, role_guid: str) -> str:
    m = _SUB_OF.match(scope)
    return authz.role_definition_id(m.group(1), role_guid) if m else f"/providers/{RD_TYPE}/{role_guid}"


def assignment_body(ra: RoleAssignment, *, just_created: bool = False) -> dict[str, Any]:
    """An assignment as Microsoft.Authorization returns it. ``createdBy``/``updatedBy`` are the creator's object id,
    except in the 201 answer to the PUT that created it, where ``createdBy`` is still null (Azure/azure-cli
    role recordings/test_role_assignment_create_using_principal_type.yaml: the PUT answers
    ``"createdBy":null,"updatedBy":"<caller>"``, the next list shows both set to the caller)."""
    return {
        "id": ra.id,
        "name": ra.name,
        "type": RA_TYPE,
        "properties": {
            "roleDefinitionId": ra.role_definition_id,
            "principalId": ra.principal_id,
            "principalType": ra.principal_type,
            "scope": ra.scope,
            "condition": None,
            "conditionVersion": None,
            "description": ra.description,
            "delegatedManagedIdentityResourceId": ra.delegated_managed_identity_resource_id,
            "createdOn": now_iso(ra.created_at),
            "updatedOn": now_iso(ra.created_at),
            "createdBy": None if just_created else ra.created_by,
            "updatedBy": ra.created_by,
        },
    }


def definition_body(role: RoleDefinition, scope: str) -> dict[str, Any]:
    return {
        "id": definition_id(scope, role.id),
        "name": role.id,
        "type": RD_TYPE,
        "properties": {
            "roleName": role.role_name,
            "type": "BuiltInRole",
            "description": authz.DESCRIPTIONS.get(role.id, role.role_name),
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": role.actions,
                    "notActions": role.not_actions,
                    "dataActions": role.data_actions,
                    "notDataActions": role.not_data_actions,
                }
            ],
        },
    }


def platform_assign(
    world: World,
    scope: str,
    role_guid: str,
    principal_id: str,
    *,
    name: str,
    delegated: str | None = None,
    effective_in_s: float = 0.0,
    created_by: str = "platform",
) -> RoleAssignment:
    """A role assignment made by the platform (a managed application deployment), not checked against RBAC."""
    now = time.time()
    ra = RoleAssignment(
        scope=scope,
        name=name,
        role_definition_id=definition_id(scope, role_guid),
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        delegated_managed_identity_resource_id=delegated,
        created_by=created_by,
        created_at=now,
        effective_at=now + effective_in_s,
    )
    return authz.add_assignment(world, ra)


def find_assignment(world: World, scope: str, role_guid: str, principal_id: str) -> RoleAssignment | None:
    with world.lock:
        for ra in world.role_assignments.values():
            if (
                key(ra.scope) == key(scope)
                and ra.role_guid == role_guid.lower()
                and ra.principal_id.lower() == principal_id.lower()
            ):
                return ra
    return None


def _role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def _check_principal(call: Call, principal_id: str) -> None:
    principal = call.world.principals.get(principal_id) or next(
        (p for p in call.world.principals.values() if p.object_id.lower() == principal_id.lower()), None
    )
    replicating = (
        principal is not None and time.time() < principal.created_at + call.world.timing.principal_not_found_s
    )
    if principal is None or replicating:
        raise ArmError(
            400,
            "PrincipalNotFound",
            f"Principal {principal_id.replace('-', '')} does not exist in the directory {call.tenant_id}. Check that "
            "you have the correct principal ID. If you are creating this principal and then immediately assigning "
            "a role, this error might be related to a replication delay. In this case, set the role assignment "
            "principalType property to a value, such as ServicePrincipal, User, or Group. "
            "See https://aka.ms/docs-principaltype",
        )


def put_assignment(call: Call) -> Response:
    scope, name = call.params.get("scope", ""), call.params["name"]
    try:
        uuid.UUID(name)
    except ValueError as exc:
        raise ArmError(
            400,
            "InvalidRoleAssignmentId",
            f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
        ) from exc
    props = call.body().get("properties") or {}
    role_guid = _role_guid(str(props.get("roleDefinitionId", "")))
    principal_id = str(props.get("principalId", ""))
    principal_type = props.get("principalType") or "ServicePrincipal"
    if principal_type not in PRINCIPAL_TYPES:
        raise ArmError(400, "InvalidPrincipalType", f"The principal type '{principal_type}' is not valid.")
    require_write(call, f"{RA_TYPE}/write", scope or "/")
    if role_guid not in call.world.role_definitions:
        raise ArmError(
            400,
            "RoleDefinitionDoesNotExist",
            f"The specified role definition with ID '{role_guid}' does not exist.",
        )
    if not props.get("principalType"):
        # With principalType set, Azure skips the directory lookup that fails during replication (Microsoft Learn,
        # "Assign Azure roles using Azure Resource Manager templates", section "New service principal"; the
        # PrincipalNotFound message itself says to set it).
        _check_principal(call, principal_id)
    now = time.time()
    ra = RoleAssignment(
        scope=scope or "/",
        name=name,
        role_definition_id=definition_id(scope, role_guid),
        principal_id=principal_id,
        principal_type=principal_type,
        delegated_managed_identity_resource_id=props.get("delegatedManagedIdentityResourceId"),
        description=props.get("description"),
        created_by=call.principal.object_id,
        created_at=now,
        effective_at=now + call.world.timing.role_propagation_s,
    )
    with call.world.lock:
        existing = call.world.role_assignments.get(key(ra.id))
        if existing is not None:
            if existing.role_guid != role_guid or existing.principal_id.lower() != principal_id.lower():
                raise ArmError(
                    400,
                    "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                )
            return json_response(assignment_body(existing), 200)
        if find_assignment(call.world, ra.scope, role_guid, principal_id) is not None:
            raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
        authz.add_assignment(call.world, ra)
    return json_response(assignment_body(ra, just_created=True), 201)


def _tenant_of_scope(world: World, scope: str) -> str | None:
    m = _SUB_OF.match(scope)
    if m is None:
        return None
    sub = next((s for s in world.subscriptions.values() if s.id.lower() == m.group(1).lower()), None)
    return sub.tenant_id if sub else None


def _visible(call: Call, ra: RoleAssignment) -> bool:
    """Whether the request sees ``ra``: Microsoft.Authorization answers from one tenant's store, ``tenantId`` when
    given, else the token's. A publisher token from its home tenant reading or deleting at a customer-tenant scope
    without ``tenantId=<customer tenant>`` (or with another tenant) finds nothing there: lists leave those
    assignments out, GET is 404 ``RoleAssignmentNotFound``, DELETE is 204 (nothing deleted). Evidence: the seed
    README "Publisher can Read and Delete Cross-Tenant Role Assignments" (the REST calls pass the customer's
    tenantId; "not yet the Azure CLI", which sends none); pulumi/pulumi-azure-native#4339 and PR #4366 (a GET of
    a cross-tenant assignment without tenantId "Returns 404"); Azure/azure-rest-api-specs authorization
    RoleAssignments ``tenantId``: "Tenant ID for cross-tenant request"; DELETE 204 "Role assignment was already
    deleted or does not exist". Assignments above any subscription (``/``) belong to no customer tenant.
    (The template engine's own requests name the target subscription's tenant: ``dispatch.Dispatcher``.)
    """
    owner = _tenant_of_scope(call.world, ra.scope)
    view = call.request.q("tenantId") or call.tenant_id
    return owner is None or owner.lower() == view.lower()


def _assignment_or_404(call: Call) -> RoleAssignment | None:
    """The addressed assignment when it exists and the request's tenant sees it."""
    scope = call.params.get("scope", "") or "/"
    ra_id = f"{scope.rstrip('/')}/providers/{RA_TYPE}/{call.params['name']}"
    ra = call.world.role_assignments.get(key(ra_id))
    return ra if ra is not None and _visible(call, ra) else None


def get_assignment(call: Call) -> Response:
    require(call, f"{RA_TYPE}/read", call.params.get("scope", "") or "/")
    ra = _assignment_or_404(call)
    if ra is None:
        raise ArmError(
            404, "RoleAssignmentNotFound", f"The role assignment '{call.params['name']}' is not found."
        )
    return json_response(assignment_body(ra))


def delete_assignment(call: Call) -> Response:
    require_write(call, f"{RA_TYPE}/delete", call.params.get("scope", "") or "/")
    with call.world.lock:
        ra = _assignment_or_404(call)
        if ra is None:
            return Response(status=204)
        del call.world.role_assignments[key(ra.id)]
    return json_response(assignment_body(ra))


def list_assignments(call: Call) -> Response:
    scope = call.params.get("scope", "") or "/"
    require(call, f"{RA_TYPE}/read", scope)
    flt = call.request.q("$filter") or ""
    at_scope = "atscope()" in flt.lower().replace(" ", "")
    m = _FILTER_PRINCIPAL.search(flt)
    principal = m.group(1).lower() if m else None
    with call.world.lock:
        assignments = list(call.world.role_assignments.values())
    selected = []
    for ra in sorted(assignments, key=lambda r: r.created_at):
        above = authz.scope_covers(ra.scope, scope)
        below = authz.scope_covers(scope, ra.scope)
        if not (above or (below and not at_scope)):
            continue
        if principal and ra.principal_id.lower() != principal:
            continue
        if not _visible(call, ra):
            continue
        selected.append(assignment_body(ra))
    return paged(call, selected)


def get_definition(call: Call) -> Response:
    role = call.world.role_definitions.get(call.params["guid"].lower())
    if role is None:
        raise ArmError(
            404,
            "RoleDefinitionDoesNotExist",
            f"The specified role definition with ID '{call.params['guid']}' does not exist.",
        )
    return json_response(definition_body(role, call.params.get("scope", "")))


def list_definitions(call: Call) -> Response:
    m = _FILTER_ROLE_NAME.search(call.request.q("$filter") or "")
    roles = list(call.world.role_definitions.values())
    if m:
        roles = [r for r in roles if r.role_name.lower() == m.group(1).lower()]
    return paged(call, [definition_body(r, call.params.get("scope", "")) for r in roles])


def register(router: ArmRouter) -> None:
    assignments = SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments"
    definitions = SCOPE + r"/providers/Microsoft\.Authorization/roleDefinitions"
    router.add("GET", assignments, list_assignments)
    router.add("GET", assignments + r"/(?P<name>[^/]+)", get_assignment)
    router.add("PUT", assignments + r"/(?P<name>[^/]+)", put_assignment)
    router.add("DELETE", assignments + r"/(?P<name>[^/]+)", delete_assignment)
    router.add("GET", definitions, list_definitions)
    router.add("GET", definitions + r"/(?P<guid>[^/]+)", get_definition)
