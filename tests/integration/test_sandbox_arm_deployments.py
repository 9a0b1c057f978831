"""Template deployments against the sandbox ARM, through the real SDK (azure-mgmt-resource deployments):
the template engine's validation, ordering, copy/condition, nested deployments, outputs, operations and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.resources import ResourceManagementClient

from sandbox.arm.template.hashing import unique_string
from sandbox.authz import OWNER

from .armkit import credential, deploy_app, make

pytestmark = pytest.mark.integration
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
UAI = "Microsoft.ManagedIdentity/userAssignedIdentities"


@pytest.fixture(scope="module")
def env(sandbox: Any) -> dict[str, Any]:
    """A customer subscription, its owner (a principal of the customer's tenant) and the publisher."""
    publisher = credential(sandbox)
    customer = sandbox.add_customer(name="deptest")
    sub = customer["subscription_id"]
    owner = sandbox.add_principal(
        tenant_id=customer["tenant_id"], roles=[{"scope": f"/subscriptions/{sub}", "role": "Owner"}]
    )
    cred = credential(sandbox, customer["tenant_id"], owner["client_id"], owner["secret"])
    return {
        "cred": cred,
        "publisher": publisher,
        "customer": customer,
        "rg": customer["application_resource_group"],
        "client": make(DeploymentsMgmtClient, sandbox, cred, sub),
        "resources": make(ResourceManagementClient, sandbox, cred, sub),
        "as_publisher": make(DeploymentsMgmtClient, sandbox, publisher, sub),
    }


def _deploy(env: dict[str, Any], name: str, template: dict[str, Any], **parameters: Any) -> Any:
    body = {
        "properties": {
            "mode": "Incremental",
            "template": template,
            "parameters": {k: {"value": v} for k, v in parameters.items()},
        }
    }
    return env["client"].deployments.begin_create_or_update(env["rg"], name, body).result()


def _template(resources: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": resources, **sections}


def test_parameters_copy_condition_outputs_and_operations(sandbox: Any, env: dict[str, Any]) -> None:
    template = _template(
        [
            {
                "type": UAI,
                "apiVersion": "2023-01-31",
                "name": "[concat(parameters('prefix'), '-', copyIndex(1))]",
                "location": "[resourceGroup().location]",
                "copy": {"name": "ids", "count": "[parameters('count')]"},
            },
            {
                "condition": "[equals(parameters('prefix'), 'nobody')]",
                "type": UAI,
                "apiVersion": "2023-01-31",
                "name": "skipped",
                "location": "[resourceGroup().location]",
            },
        ],
        parameters={
            "prefix": {"type": "string", "minLength": 2, "allowedValues": ["dep", "nobody"]},
            "count": {"type": "int", "defaultValue": 2, "minValue": 1, "maxValue": 5},
        },
        outputs={
            "first": {
                "type": "string",
                "value": "[reference(resourceId('" + UAI + "', 'dep-1')).principalId]",
            },
            "unique": {"type": "string", "value": "[uniqueString(resourceGroup().id)]"},
            "count": {"type": "int", "value": "[parameters('count')]"},
        },
    )
    result = _deploy(env, "copyloop", template, prefix="dep")
    assert result.properties.provisioning_state == "Succeeded"
    msi = make(ManagedServiceIdentityClient, sandbox, env["cred"], env["customer"]["subscription_id"])
    names = {i.name for i in msi.user_assigned_identities.list_by_resource_group(env["rg"])}
    assert {"dep-1", "dep-2"} <= names and "skipped" not in names
    outputs = result.properties.outputs
    assert outputs["first"]["value"] == msi.user_assigned_identities.get(env["rg"], "dep-1").principal_id
    assert outputs["unique"]["value"] == unique_string(env["customer"]["application_resource_group_id"])
    assert outputs["count"] == {"type": "Int", "value": 2}
    operations = list(env["client"].deployment_operations.list(env["rg"], "copyloop"))
    assert sorted(o.properties.target_resource.resource_name for o in operations) == ["dep-1", "dep-2"]
    assert {o.properties.status_code for o in operations} == {"Created"}
    again = _deploy(env, "copyloop", template, prefix="dep")  # a redeployment updates in place
    assert {
        o.properties.status_code for o in env["client"].deployment_operations.list(env["rg"], "copyloop")
    } == {"OK"}
    assert again.properties.outputs["first"] == outputs["first"]


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({}, "The value for the template parameter 'prefix' at line"),
        ({"prefix": 3}, "Expected 'String'. Actual 'Integer'"),
        ({"prefix": "other"}, "is not part of the allowed value(s): 'dep,nobody'"),
        ({"prefix": "dep", "count": 9}, "greater than the maximum value '5'"),
        (
            {"prefix": "dep", "extra": 1},
            "The template parameters 'extra' in the parameters file are not valid",
        ),
    ],
)
def test_validate_refuses_bad_parameters(env: dict[str, Any], parameters: dict[str, Any], words: str) -> None:
    template = _template(
        [],
        parameters={
            "prefix": {"type": "string", "allowedValues": ["dep", "nobody"]},
            "count": {"type": "int", "defaultValue": 2, "maxValue": 5},
        },
    )
    body = {
        "properties": {
            "mode": "Incremental",
            "template": template,
            "parameters": {k: {"value": v} for k, v in parameters.items()},
        }
    }
    with pytest.raises(HttpResponseError) as err:
        env["client"].deployments.begin_validate(env["rg"], "bad", body).result()
    assert err.value.status_code == 400 and err.value.error.code == "InvalidTemplate"
    assert words in err.value.error.message


def test_unknown_function_and_resource_type_fail_validation_with_their_line(env: dict[str, Any]) -> None:
    template = _template(
        [{"type": UAI, "apiVersion": "2023-01-31", "name": "[toUpperCase('x')]", "location": "westus"}]
    )
    text = json.dumps(template, indent=2)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "toUpperCase" in row)
    raw = '{"properties": {"mode": "Incremental", "template": ' + text + "}}"
    response = env["client"].send_request(_put_request(env, "unknownfn", raw))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidTemplate"
    assert "The template function 'toUpperCase' is not valid" in error["message"]
    assert f"at line '{line}'" in error["message"]
    unknown_type = _template(
        [
            {
                "type": "Microsoft.OperationalInsights/workspaces",
                "apiVersion": "2020-08-01",
                "name": "w",
                "location": "x",
            }
        ]
    )
    with pytest.raises(HttpResponseError) as err:
        _deploy(env, "unknowntype", unknown_type)
    assert err.value.error.code == "InvalidTemplate"
    assert "The resource type 'workspaces' could not be found in the namespace" in err.value.error.message


def _put_request(env: dict[str, Any], name: str, raw: str) -> Any:
    sub, rg = env["customer"]["subscription_id"], env["rg"]
    return HttpRequest(
        "PUT",
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}"
        "?api-version=2024-03-01",
        content=raw,
        headers={"Content-Type": "application/json"},
    )


def test_failed_resource_fails_the_deployment_with_arm_error_shape(env: dict[str, Any]) -> None:
    """A role assignment the caller may not write: ARM's preflight refuses it (InvalidTemplateDeployment);
    one whose role does not exist fails at deployment (DeploymentFailed with the resource's error)."""
    sub, rg_id = env["customer"]["subscription_id"], env["customer"]["application_resource_group_id"]
    assignment = {
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": "2022-04-01",
        "name": "[guid(resourceGroup().id, 'x')]",
        "properties": {
            "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{OWNER}",
            "principalId": env["customer"]["tenant_id"],
            "principalType": "ServicePrincipal",
        },
    }
    with pytest.raises(HttpResponseError) as err:
        _deploy({**env, "client": env["as_publisher"]}, "noauth", _template([assignment]))
    assert err.value.error.code == "InvalidTemplateDeployment"
    assert "Authorization failed for template resource" in err.value.error.message
    assert (
        f"'Microsoft.Authorization/roleAssignments/write' at scope '{rg_id}/providers/"
        in err.value.error.message
    )
    broken = _template(
        [
            {"type": UAI, "apiVersion": "2023-01-31", "name": "ok-first", "location": "westus"},
            {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2023-01-01",
                "name": "Not-Valid",
                "location": "westus",
                "dependsOn": ["ok-first"],
                "sku": {"name": "Standard_LRS"},
                "kind": "StorageV2",
            },
        ]
    )
    with pytest.raises(HttpResponseError) as err:
        _deploy(env, "broken", broken)
    assert err.value.error.code == "DeploymentFailed"
    assert "At least one resource deployment operation failed" in err.value.error.message
    assert err.value.error.details[0].code == "AccountNameInvalid"
    record = env["client"].deployments.get(env["rg"], "broken")
    assert record.properties.provisioning_state == "Failed"
    operations = {
        o.properties.target_resource.resource_name: o
        for o in env["client"].deployment_operations.list(env["rg"], "broken")
    }
    assert operations["ok-first"].properties.provisioning_state == "Succeeded"
    failed = operations["Not-Valid"].properties
    assert failed.provisioning_state == "Failed" and failed.status_code == "BadRequest"
    assert failed.status_message["error"]["code"] == "AccountNameInvalid"


def test_dependson_cycle_and_missing_target(env: dict[str, Any]) -> None:
    a = {"type": UAI, "apiVersion": "2023-01-31", "name": "a", "location": "westus", "dependsOn": ["b"]}
    b = {"type": UAI, "apiVersion": "2023-01-31", "name": "b", "location": "westus", "dependsOn": ["a"]}
    with pytest.raises(HttpResponseError) as err:
        _deploy(env, "cycle", _template([a, b]))
    assert "Circular dependency detected on resource" in err.value.error.message
    with pytest.raises(HttpResponseError) as err:
        _deploy(env, "missing", _template([{**a, "dependsOn": ["nowhere"]}]))
    assert "The resource 'nowhere' is not defined in the template" in err.value.error.message


def test_nested_deployments_inner_and_outer_scope(sandbox: Any, env: dict[str, Any]) -> None:
    client, sub = env["client"], env["customer"]["subscription_id"]
    env["resources"].resource_groups.create_or_update("deptest-other", {"location": "westus"})
    nested_inner = {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "inner",
        "resourceGroup": "deptest-other",
        "properties": {
            "mode": "Incremental",
            "expressionEvaluationOptions": {"scope": "inner"},
            "parameters": {"name": {"value": "[variables('innerName')]"}},
            "template": _template(
                [
                    {
                        "type": UAI,
                        "apiVersion": "2023-01-31",
                        "name": "[parameters('name')]",
                        "location": "westus",
                    }
                ],
                parameters={"name": {"type": "string"}},
                outputs={"group": {"type": "string", "value": "[resourceGroup().name]"}},
            ),
        },
    }
    nested_outer = {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "outer",
        "resourceGroup": "deptest-other",
        "dependsOn": ["inner"],
        "properties": {
            "mode": "Incremental",
            "template": _template(
                [
                    {
                        "type": UAI,
                        "apiVersion": "2023-01-31",
                        "name": "[variables('outerName')]",
                        "location": "westus",
                    }
                ]
            ),
        },
    }
    template = _template(
        [nested_inner, nested_outer],
        variables={"innerName": "from-inner", "outerName": "from-outer"},
        outputs={"innerGroup": {"type": "string", "value": "[reference('inner').outputs.group.value]"}},
    )
    result = _deploy(env, "nesting", template)
    assert result.properties.outputs["innerGroup"]["value"] == "deptest-other"
    msi = make(ManagedServiceIdentityClient, sandbox, env["cred"], sub)
    assert {i.name for i in msi.user_assigned_identities.list_by_resource_group("deptest-other")} == {
        "from-inner",
        "from-outer",
    }
    inner = client.deployments.get("deptest-other", "inner")
    assert inner.properties.provisioning_state == "Succeeded"
    assert [
        o.properties.target_resource.resource_name
        for o in client.deployment_operations.list(env["rg"], "nesting")
    ] == [
        "inner",
        "outer",
    ]


def test_managed_application_with_a_failing_resource_fails_with_arm_error(
    sandbox: Any, env: dict[str, Any]
) -> None:
    """The package's template runs for real: a parameter it passes on to a role assignment that cannot be made
    fails the application with ApplianceDeploymentFailed, and the deployment's operations say which resource."""
    sub = env["customer"]["subscription_id"]
    missing_role = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{'0' * 8}-0000-0000-0000-{'0' * 12}"
    with pytest.raises(HttpResponseError) as err:
        deploy_app(
            sandbox, env["cred"], env["customer"], "failapp", identityNodeRoleDefinitionId=missing_role
        )
    assert err.value.error.code == "ApplianceDeploymentFailed"
    assert "Please check operations of deployment 'failapp' under resource group" in err.value.error.message
    app_id = f"{env['customer']['application_resource_group_id']}/providers/Microsoft.Solutions/applications/failapp"
    app = env["resources"].resources.get_by_id(app_id, api_version="2019-07-01")
    assert app.properties["provisioningState"] == "Failed"
    top = {
        o.properties.target_resource.resource_name: o
        for o in env["client"].deployment_operations.list("failapp-mrg", "failapp")
    }
    nested_name = next(n for n in top if n.startswith("node-rg-roles-"))
    assert top[nested_name].properties.provisioning_state == "Failed"
    assert top["failapp-aks"].properties.provisioning_state == "Succeeded"
    node_rg = "failapp-mrg-aks-rg"
    nested_ops = list(env["client"].deployment_operations.list(node_rg, nested_name))
    failed = [o for o in nested_ops if o.properties.provisioning_state == "Failed"]
    assert failed and failed[0].properties.status_message["error"]["code"] == "RoleDefinitionDoesNotExist"


@pytest.mark.skipif(not SEED.is_dir(), reason="the seed (../shared/seed) is not beside this checkout")
def test_seed_main_template_is_refused_for_what_the_sandbox_does_not_serve(env: dict[str, Any]) -> None:
    """The seed's template declares resource types the sandbox does not serve (a VM, networks, Log Analytics):
    validation refuses the deployment naming one, before anything is created."""
    template = json.loads((SEED / "ama-aks" / "mainTemplate.json").read_text())
    with pytest.raises(HttpResponseError) as err:
        env["client"].deployments.begin_validate(
            env["rg"],
            "seedmain",
            {"properties": {"mode": "Incremental", "template": template, "parameters": {}}},
        ).result()
    assert err.value.error.code == "InvalidTemplate"
    message = err.value.error.message
    assert "could not be found in the namespace" in message or "is not provided" in message


def test_role_assignment_for_an_identity_the_same_template_creates(sandbox: Any, env: dict[str, Any]) -> None:
    """principalType set: no PrincipalNotFound for an identity created a moment before (as Azure skips the lookup);
    the assignment records the deploying principal as createdBy, with the template's deterministic name."""
    sub = env["customer"]["subscription_id"]
    identity_id = f"[resourceId('{UAI}', 'fresh')]"
    template = _template(
        [
            {"type": UAI, "apiVersion": "2023-01-31", "name": "fresh", "location": "westus"},
            {
                "type": "Microsoft.Authorization/roleAssignments",
                "apiVersion": "2022-04-01",
                "name": f"[guid(resourceGroup().id, {identity_id[1:-1]}, 'reader')]",
                "dependsOn": [identity_id],
                "properties": {
                    "roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                    "'acdd72a7-3385-48ef-bd42-f606fba81ae7')]",
                    "principalId": f"[reference({identity_id[1:-1]}).principalId]",
                    "principalType": "ServicePrincipal",
                },
            },
        ],
        outputs={
            "name": {"type": "string", "value": f"[guid(resourceGroup().id, {identity_id[1:-1]}, 'reader')]"}
        },
    )
    result = _deploy(env, "freshrole", template)
    name = result.properties.outputs["name"]["value"]
    auth = make(AuthorizationManagementClient, sandbox, env["cred"], sub)
    made = auth.role_assignments.get(env["customer"]["application_resource_group_id"], name)
    owner_oid = jwt_oid(env["cred"])
    assert made.principal_type == "ServicePrincipal" and made.created_by == owner_oid


def jwt_oid(cred: Any) -> str:
    token = cred.get_token("https://management.azure.com/.default").token
    return str(jwt.decode(token, options={"verify_signature": False})["oid"])
