"""The deterministic role assignment name that audit and offboarding recompute to prove an assignment is ours."""

from __future__ import annotations

import uuid

from azure.mgmt.authorization.models import RoleAssignment

from onboarding.azure import roles
from onboarding.azure.roles import DesiredAssignment, role_assignment_name
from onboarding.cluster import IdentityRef

SCOPE = "/subscriptions/5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001/resourceGroups/contoso-ama-aks-rg"
PRINCIPAL = "317b4351-0642-4d83-a3dd-54a604fd6a4f"
IDENTITY = IdentityRef(
    resource_id=f"{SCOPE}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x-identity",
    name="x-identity",
    client_id="673153a6-28c4-486e-91ad-45d358b182d2",
    principal_id=PRINCIPAL,
)


def test_name_is_a_stable_guid() -> None:
    name = role_assignment_name(SCOPE, roles.OWNER, PRINCIPAL)
    assert str(uuid.UUID(name)) == name
    assert name == role_assignment_name(SCOPE, roles.OWNER, PRINCIPAL)
    # Pinned: changing the namespace or the material would orphan every assignment already made.
    assert name == str(
        uuid.uuid5(roles.ROLE_ASSIGNMENT_NAMESPACE, f"{SCOPE.lower()}|{roles.OWNER}|{PRINCIPAL}")
    )


def test_name_ignores_case_and_trailing_slash() -> None:
    expected = role_assignment_name(SCOPE, roles.OWNER, PRINCIPAL)
    assert role_assignment_name(SCOPE.upper() + "/", roles.OWNER.upper(), PRINCIPAL.upper()) == expected
    assert (
        role_assignment_name(SCOPE.replace("resourceGroups", "resourcegroups"), roles.OWNER, PRINCIPAL)
        == expected
    )


def test_name_differs_per_scope_role_and_principal() -> None:
    names = {
        role_assignment_name(SCOPE, roles.OWNER, PRINCIPAL),
        role_assignment_name(SCOPE + "x", roles.OWNER, PRINCIPAL),
        role_assignment_name(SCOPE, roles.MANAGED_IDENTITY_OPERATOR, PRINCIPAL),
        role_assignment_name(SCOPE, roles.OWNER, "e97f1e5d-e33a-421b-8c3b-11b4d3ee6208"),
    }
    assert len(names) == 4


def _as_served(scope: str, definition_id: str, principal_id: str) -> RoleAssignment:
    """An assignment as the SDK deserializes it from a list response."""
    return RoleAssignment.deserialize(
        {
            "name": str(uuid.uuid4()),
            "properties": {"scope": scope, "roleDefinitionId": definition_id, "principalId": principal_id},
        }
    )


def test_desired_assignment_matches_an_equivalent_one_under_another_name() -> None:
    want = DesiredAssignment(SCOPE, roles.VIRTUAL_MACHINE_CONTRIBUTOR, IDENTITY, "node resource group")
    definition = roles.role_definition_id(
        "5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001", roles.VIRTUAL_MACHINE_CONTRIBUTOR
    )
    made_by_template = _as_served(SCOPE.lower() + "/", definition.upper(), PRINCIPAL.upper())
    other_role = _as_served(
        SCOPE, definition.replace(roles.VIRTUAL_MACHINE_CONTRIBUTOR, roles.READER), PRINCIPAL
    )
    assert want.matches(made_by_template)
    assert not want.matches(other_role)
    assert want.name == role_assignment_name(SCOPE, roles.VIRTUAL_MACHINE_CONTRIBUTOR, PRINCIPAL)
    assert want.describe() == "Virtual Machine Contributor for identity x-identity on node resource group"
