"""CustomerContext views: acting as the identity discovery found changes no context, and every view shares the
customer's credentials and clients."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient

from onboarding.azure import managed_app
from onboarding.cluster import IdentityRef
from onboarding.context import CustomerContext
from onboarding.models import load_customer_spec
from onboarding.settings import Settings

from .clusters import cluster_with, raw_spec

SPEC = load_customer_spec(raw_spec())
FOUND = (
    "/subscriptions/5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001/resourceGroups/bought-mrg"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/acmeaks-identity"
)


def test_a_view_for_the_found_identity_leaves_the_context_as_it_was() -> None:
    ctx = CustomerContext(SPEC, Settings())
    found = ctx.for_cluster(
        cluster_with(IdentityRef(resource_id=FOUND, name="i", client_id="c", principal_id="p"))
    )
    assert ctx.app_identity_id == managed_app.expected_identity_id(SPEC)
    assert found.app_identity_id == FOUND and found is not ctx
    assert found.node_rg_credential is not ctx.node_rg_credential
    assert found.publisher_credential is ctx.publisher_credential
    assert found.client(ComputeManagementClient) is ctx.client(ComputeManagementClient)
    assert found.for_app_identity(FOUND.upper()) is found, "ARM ids compare without case"
    assert ctx.for_app_identity(FOUND).node_rg_credential is found.node_rg_credential, (
        "one credential an identity"
    )
