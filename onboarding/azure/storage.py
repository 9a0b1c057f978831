"""The customer's ADLS Gen2 account: finding it, granting the application's identity Storage Blob Data Reader on
it (as the publisher), and proving the identity can list and read from here with a ``listTokens`` token."""

from __future__ import annotations

from typing import Any

from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import StorageAccount

from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..errors import PermanentError
from ..results import StepResult
from ..steps import StepRecorder
from . import roles
from .assignments import ensure_assignments
from .credentials import ApplicationTokenCredential
from .roles import DesiredAssignment

STORAGE_STEP = "verify_storage_access"


def find_account(
    client: StorageManagementClient, resource_group: str, name: str | None
) -> StorageAccount | None:
    """The named account, else the resource group's HNS-enabled (ADLS Gen2) account, else None."""
    if name:
        return client.storage_accounts.get_properties(resource_group, name)
    accounts = list(client.storage_accounts.list_by_resource_group(resource_group))
    return next((a for a in accounts if a.is_hns_enabled), None)


def dfs_endpoint(account: StorageAccount) -> str | None:
    return account.primary_endpoints.dfs if account.primary_endpoints is not None else None


def _require_account(ctx: CustomerContext, cluster: ClusterInfo) -> tuple[str, str, str]:
    if not (cluster.storage_account_id and cluster.storage_account_name and cluster.dfs_endpoint):
        raise PermanentError(
            "no ADLS Gen2 storage account found in the managed resource group",
            customer=ctx.spec.name,
            step=STORAGE_STEP,
            hint="name it in storage.account or redeploy the application",
        )
    return cluster.storage_account_id, cluster.storage_account_name, cluster.dfs_endpoint


def ensure_storage_reader(ctx: CustomerContext, cluster: ClusterInfo, *, dry_run: bool = False) -> StepResult:
    """The application's identity holds Storage Blob Data Reader on the account (written by the publisher)."""
    rec = StepRecorder(ctx, "ensure_storage_reader", dry_run=dry_run)
    account_id, account_name, _ = _require_account(ctx, cluster)
    want = DesiredAssignment(
        account_id, roles.STORAGE_BLOB_DATA_READER, cluster.app_identity, f"storage account {account_name}"
    )
    created = ensure_assignments(ctx, rec, [want], step=rec.result.step, node_rg=False)
    return rec.finish(assignment=want.name, created=[w.name for w in created])


def verify_storage_from_publisher(ctx: CustomerContext, cluster: ClusterInfo) -> dict[str, Any]:
    """List ``storage.directory`` and read ``storage.file`` as the application's identity (a listTokens token for
    the storage audience), from this process."""
    from azure.storage.filedatalake import DataLakeServiceClient  # only here: discovery imports this module

    _, account_name, endpoint = _require_account(ctx, cluster)
    check = ctx.spec.storage
    options = {"connection_verify": str(ctx.settings.ca_bundle)} if ctx.settings.ca_bundle else {}
    credential = ApplicationTokenCredential(ctx.list_tokens, cluster.app_identity.resource_id)
    service = DataLakeServiceClient(endpoint, credential=credential, **options)
    filesystem = service.get_file_system_client(check.filesystem)
    path = f"{check.directory}/{check.file}"

    def read() -> dict[str, Any]:
        with ctx.errors(STORAGE_STEP, f"list {check.filesystem}/{check.directory} in {account_name}"):
            listing = [p.name for p in filesystem.get_paths(path=check.directory, recursive=False)]
        with ctx.errors(STORAGE_STEP, f"read {check.filesystem}/{path} in {account_name}"):
            data = filesystem.get_file_client(path).download_file().readall()
        text = data.decode("utf-8", errors="replace")
        return {
            "account": account_name,
            "listing": listing,
            "bytes": len(data),
            "first_line": text.splitlines()[0] if text else "",
        }

    result, waited = ctx.through_propagation(
        read,
        what=f"storage data access to {account_name}",
        hint="the identity lacks Storage Blob Data Reader on the account: run ensure_storage_reader",
    )
    return {**result, "waited_s": waited}
