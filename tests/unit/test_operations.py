"""Pure parts of the operations: proving an assignment is ours, the scale set PATCH that removes identities, the
chart release ownership rule, the operation report."""

from __future__ import annotations

import uuid

from azure.mgmt.authorization.models import RoleAssignment
from azure.mgmt.compute.models import VirtualMachineScaleSet

from onboarding.azure import roles, vmss
from onboarding.helm import chart_values, product_values
from onboarding.models import ChartSource, PodIdentityMode
from onboarding.report import operation_markdown
from onboarding.results import StepResult

SUB = "5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001"
SCOPE = f"/subscriptions/{SUB}/resourceGroups/contoso-ama-mrg"
OURS = "317b4351-0642-4d83-a3dd-54a604fd6a4f"
FOREIGN = "e97f1e5d-e33a-421b-8c3b-11b4d3ee6208"
UAI = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
KUBELET, APP, OTHER = f"{UAI}/aks-agentpool", f"{UAI}/aks-identity", f"{UAI}/someone-elses"


def _served(name: str, principal_id: str, role: str = roles.READER, scope: str = SCOPE) -> RoleAssignment:
    return RoleAssignment.deserialize(
        {
            "name": name,
            "properties": {
                "scope": scope,
                "roleDefinitionId": roles.role_definition_id(SUB, role),
                "principalId": principal_id,
            },
        }
    )


def test_only_the_deterministic_name_for_a_customer_identity_proves_ownership() -> None:
    mine = roles.role_assignment_name(SCOPE, roles.READER, OURS)
    assert roles.provably_ours(_served(mine, OURS), {OURS})
    assert roles.provably_ours(_served(mine.upper(), OURS.upper(), scope=SCOPE.lower() + "/"), {OURS})
    assert not roles.provably_ours(_served(str(uuid.uuid4()), OURS), {OURS}), (
        "made by hand or by the template"
    )
    lookalike = roles.role_assignment_name(SCOPE, roles.READER, FOREIGN)
    assert not roles.provably_ours(_served(lookalike, FOREIGN), {OURS}), (
        "not one of the customer's identities"
    )
    assert not roles.provably_ours(_served(mine, OURS, role=roles.OWNER), {OURS}), "name of another role"


def test_made_at_drops_assignments_inherited_from_above() -> None:
    here, above = _served("a", OURS), _served("b", OURS, scope=f"/subscriptions/{SUB}")
    assert roles.made_at([here, above], SCOPE.upper()) == [here]


def _scale_set(kind: str, identities: list[str]) -> VirtualMachineScaleSet:
    return VirtualMachineScaleSet(
        {
            "location": "eastus",
            "identity": {"type": kind, "userAssignedIdentities": {i: {} for i in identities}},
        }
    )


def test_removal_patch_names_only_ours_as_null() -> None:
    """Azure merges the map: the identities that stay are left out of the body (az vmss identity remove)."""
    current = _scale_set("UserAssigned", [KUBELET, APP.upper(), OTHER])
    assert vmss.present_ids(current, [APP, f"{UAI}/absent"]) == [APP.upper()]
    body = vmss.identity_removal(current, [APP.upper()]).as_dict()["identity"]
    assert body == {"type": "UserAssigned", "userAssignedIdentities": {APP.upper(): None}}


def test_removal_of_the_last_identity_sends_only_the_type_that_remains() -> None:
    both = vmss.identity_removal(_scale_set("SystemAssigned, UserAssigned", [APP]), [APP]).as_dict()
    assert both["identity"] == {"type": "SystemAssigned"}
    alone = vmss.identity_removal(_scale_set("UserAssigned", [APP]), [APP]).as_dict()
    assert alone["identity"] == {"type": "None"}


def test_attach_patch_names_only_the_missing_identities() -> None:
    current = _scale_set("SystemAssigned, UserAssigned", [KUBELET, OTHER])
    body = vmss.identity_update(current, [APP]).as_dict()["identity"]
    assert body == {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {APP: {}}}


def test_a_release_is_ours_only_with_exactly_the_values_this_product_sets() -> None:
    chart = ChartSource()
    ours = product_values(chart)
    assert chart_values(chart, PodIdentityMode.AAD_POD_IDENTITY_MANAGED) in ours
    assert chart_values(chart, PodIdentityMode.AAD_POD_IDENTITY_STANDARD) in ours
    assert {} not in ours, "a release installed without values is someone else's"
    hand_made = {**chart_values(chart, PodIdentityMode.AAD_POD_IDENTITY_MANAGED), "mic": {"logVerbosity": 5}}
    assert hand_made not in ours


def test_operation_report_says_plan_and_lists_both_sides() -> None:
    result = StepResult(
        step="offboard_customer",
        customer="contoso",
        dry_run=True,
        changed=["would delete AzureIdentity default/x"],
        unchanged=["managed application contoso-ama kept: the customer owns it and deletes it"],
    )
    text = operation_markdown(title="Offboarding plan", result=result)
    assert text.startswith("# Offboarding plan of customer `contoso`")
    assert "Plan only: nothing was written." in text
    assert "## Would change\n\n- would delete AzureIdentity default/x" in text
    assert "- managed application contoso-ama kept" in text


def test_operation_report_renders_audit_rows_as_a_table() -> None:
    row = {
        "scope": "node resource group rg",
        "role": "Owner",
        "principal": "identity x",
        "assignment": "-",
        "status": "expected: missing",
        "action": "run onboarding",
    }
    result = StepResult(step="audit_role_assignments", customer="contoso", details={"rows": [row]})
    text = operation_markdown(title="Role assignment audit", result=result)
    assert "| scope | role | principal | assignment | status | action |\n|---|---|---|---|---|---|" in text
    assert "| node resource group rg | Owner | identity x | - | expected: missing | run onboarding |" in text
