"""The federated identity credential on a user-assigned identity (ARM, Microsoft.ManagedIdentity): it lets a
cluster's service account (OIDC issuer + subject) exchange its token for the identity's."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.msi.models import FederatedIdentityCredential

from ..changes import Change
from ..cluster import IdentityRef
from ..errors import azure_errors
from ..ids import ResourceId

AUDIENCE = "api://AzureADTokenExchange"


def _identity_parts(resource_id: str) -> tuple[str, str]:
    rid = ResourceId(resource_id).require("Microsoft.ManagedIdentity/userAssignedIdentities")
    return str(rid.resource_group), rid.name


def read_federated_credential(
    msi_client: Any, identity: IdentityRef, *, name: str, customer: str, step: str
) -> Any | None:
    """The federated identity credential ``name`` on ``identity``, None when there is none."""
    rg, identity_name = _identity_parts(identity.resource_id)
    what = f"federated identity credential {name} on {identity_name}"
    with azure_errors(customer=customer, step=step, action=f"read {what}"):
        try:
            return msi_client.federated_identity_credentials.get(rg, identity_name, name)
        except ResourceNotFoundError:
            return None


def delete_federated_credential(
    msi_client: Any, identity: IdentityRef, *, name: str, customer: str, step: str
) -> None:
    rg, identity_name = _identity_parts(identity.resource_id)
    what = f"federated identity credential {name} on {identity_name}"
    with azure_errors(customer=customer, step=step, action=f"delete {what}"):
        msi_client.federated_identity_credentials.delete(rg, identity_name, name)


def ensure_federated_credential(
    msi_client: Any,
    identity: IdentityRef,
    *,
    name: str,
    issuer: str,
    sub: str,
    customer: str,
    step: str,
    dry_run: bool,
) -> Change:
    """The federated identity credential ``name`` on ``identity`` with this issuer, subject and audience."""
    rg, identity_name = _identity_parts(identity.resource_id)
    what = f"federated identity credential {name} on {identity_name}"
    current = read_federated_credential(msi_client, identity, name=name, customer=customer, step=step)
    if current is not None and (
        current.issuer == issuer and current.subject == sub and list(current.audiences or []) == [AUDIENCE]
    ):
        return Change.UNCHANGED
    if dry_run:
        return Change.WOULD_CREATE if current is None else Change.WOULD_UPDATE
    params = FederatedIdentityCredential(issuer=issuer, subject=sub, audiences=[AUDIENCE])
    with azure_errors(customer=customer, step=step, action=f"write {what}"):
        msi_client.federated_identity_credentials.create_or_update(rg, identity_name, name, params)
    return Change.CREATED if current is None else Change.UPDATED
