"""A variant of the package's template (not shipped) with AKS "bring your own kubelet identity": the application
identity as the cluster's kubelet identity, so that AKS itself puts it on every node pool scale set. Published as a
service catalog definition of its own beside the seeded one, for the kubelet identity benchmark and its tests (see
the README, "Kubelet identity: AKS's own attach step, evaluated and not offered").

Used in aad-pod-identity managed mode (the benchmark and its tests): in standard mode (``assignKubeletRoles``) the
node resource group deployment would give the application identity its node role twice when that role is Virtual
Machine Contributor (once as the identity, once as the kubelet), which ARM refuses (409 RoleAssignmentExists)."""

from __future__ import annotations

import copy
import json
from typing import Any

from azure.mgmt.resource.resources import ResourceManagementClient

from onboarding.azure.managed_app import SOLUTIONS_API_VERSION
from sandbox import seed
from sandbox.client import SandboxProcess
from tools.cloud_actions import publisher_client

VARIANT_ID = seed.APPLICATION_DEFINITION_ID.rsplit("/", 1)[0] + "/ama-aks-byo-kubelet"


def byo_kubelet_template(template: dict[str, Any]) -> dict[str, Any]:
    """The package's template with the application identity as the cluster's kubelet identity: a control plane
    identity of its own, Managed Identity Operator over the application identity (cross-tenant like the others)."""
    variant = copy.deepcopy(template)
    variables = variant["variables"]
    variables["controlPlaneIdentityId"] = (
        "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', "
        "concat(parameters('aksName'), '-control-plane'))]"
    )
    variables["controlPlaneGrantName"] = (
        "[guid(variables('identityId'), variables('controlPlaneIdentityId'), variables('roleManagedIdentityOperator'))]"
    )
    identity = "[reference(variables('identityId'), '2023-01-31')"
    control_plane = "[reference(variables('controlPlaneIdentityId'), '2023-01-31')"
    cluster = next(
        r for r in variant["resources"] if r["type"] == "Microsoft.ContainerService/managedClusters"
    )
    cluster["identity"] = {
        "type": "UserAssigned",
        "userAssignedIdentities": "[createObject(variables('controlPlaneIdentityId'), createObject())]",
    }
    cluster["properties"]["identityProfile"] = {
        "kubeletidentity": {
            "resourceId": "[variables('identityId')]",
            "clientId": f"{identity}.clientId]",
            "objectId": f"{identity}.principalId]",
        }
    }
    cluster["dependsOn"] = ["[variables('identityId')]", "[variables('controlPlaneGrantName')]"]
    variant["resources"][:0] = [
        {
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "apiVersion": "2023-01-31",
            "name": "[concat(parameters('aksName'), '-control-plane')]",
            "location": "[parameters('location')]",
        },
        {
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": "2022-04-01",
            "scope": "[variables('identityId')]",
            "name": "[variables('controlPlaneGrantName')]",
            "dependsOn": ["[variables('identityId')]", "[variables('controlPlaneIdentityId')]"],
            "properties": {
                "roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                "variables('roleManagedIdentityOperator'))]",
                "principalId": f"{control_plane}.principalId]",
                "principalType": "ServicePrincipal",
                "delegatedManagedIdentityResourceId": "[if(parameters('crossTenant'), "
                "variables('controlPlaneIdentityId'), null())]",
            },
        },
    ]
    return variant


def publish_variant(box: SandboxProcess) -> str:
    """The variant as a service catalog definition of the publisher's (beside the seeded one)."""
    client = publisher_client(box, ResourceManagementClient, seed.PUBLISHER_SUBSCRIPTION_ID)
    template = json.loads(seed.PACKAGE_TEMPLATE.read_text())
    seeded = client.resources.get_by_id(seed.APPLICATION_DEFINITION_ID, api_version=SOLUTIONS_API_VERSION)
    body = {
        "location": seed.DEFAULT_LOCATION,
        "properties": {
            "lockLevel": "ReadOnly",
            "displayName": "AKS managed application (kubelet identity: the application identity)",
            "authorizations": (seeded.properties or {})["authorizations"],
            "mainTemplate": byo_kubelet_template(template),
        },
    }
    client.resources.begin_create_or_update_by_id(
        VARIANT_ID, body, api_version=SOLUTIONS_API_VERSION
    ).result()
    return VARIANT_ID
