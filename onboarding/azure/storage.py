"""The customer's ADLS Gen2 account as ARM shows it: finding it and its DFS endpoint (the grant and the data check
from the publisher are steps: ``steps/storage.py``)."""

from __future__ import annotations

from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import StorageAccount


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
