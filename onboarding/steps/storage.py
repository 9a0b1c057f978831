"""The customer's ADLS Gen2 account from the publisher's side: the application's identity holding Storage Blob
Data Reader on it (granted by the template since package 1.2.0, by the publisher afterwards before it), and proving the identity can list and read there with a ``listTokens``
token."""

from __future__ import annotations

from typing import Any

from azure.storage.filedatalake import DataLakeServiceClient

from ..azure import roles, template_versions
from ..azure.credentials import ApplicationTokenCredential
from ..azure.roles import DesiredAssignment
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..errors import PermanentError
from ..results import StepResult
from . import StepRecorder
from .assignments import ensure_assignments

STORAGE_STEP = "verify_storage_access"


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
    """The application's identity holds Storage Blob Data Reader on the account.

    A version whose template grants it: a read that finds the template's assignment (written here only if someone
    removed it, or the application moved to the version by refreshPermissions, which does not redeploy).
    Older versions: the publisher grants it after the deployment."""
    rec = StepRecorder(ctx, "ensure_storage_reader", dry_run=dry_run)
    account_id, account_name, _ = _require_account(ctx, cluster)
    with ctx.errors(rec.result.step, f"read managed application {ctx.spec.managed_application.name}"):
        version = template_versions.read_version(ctx.resources, ctx.application_id)
    in_template = template_versions.grants_storage_reader(version)
    want = DesiredAssignment(
        account_id, roles.STORAGE_BLOB_DATA_READER, cluster.app_identity, f"storage account {account_name}"
    )
    created = ensure_assignments(ctx, rec, [want], step=rec.result.step, node_rg=False)
    return rec.finish(
        assignment=want.name,
        created=[w.name for w in created],
        template_version=version,
        template_grants=in_template,
    )


def verify_storage_from_publisher(ctx: CustomerContext, cluster: ClusterInfo) -> dict[str, Any]:
    """List ``storage.directory`` and read ``storage.file`` as the application's identity (a listTokens token for
    the storage audience), from this process."""
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
