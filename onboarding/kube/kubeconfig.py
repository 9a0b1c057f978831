"""Cluster credentials: fetched from AKS (``listClusterUserCredential`` or the admin variant), kept in a 0600
temporary file only while in use (helm needs a path), and turned into a kubernetes ``ApiClient``.

The file's name carries the process id (``kubeconfig-<pid>-*.yaml``): a process killed while using one (SIGKILL,
or a SIGTERM that runs no ``finally``) cannot delete it, so the next kubeconfig file made on the host first deletes
those of processes that no longer exist."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient

from ..errors import PermanentError, azure_errors
from ..ids import ResourceId
from ..redact import register_secret

SECRET_USER_FIELDS = ("token", "password", "client-key-data")
KUBECONFIG_PREFIX = "kubeconfig-"


@dataclass
class ClusterAccess:
    """An open connection to one cluster: the kubeconfig path (for helm) and the API client."""

    kubeconfig_path: Path
    api: ApiClient
    server: str


def split_cluster_id(cluster_id: str) -> tuple[str, str]:
    """(resource group, cluster name) of a managedClusters resource id."""
    rid = ResourceId(cluster_id).require("Microsoft.ContainerService/managedClusters")
    return str(rid.resource_group), rid.name


def register_kubeconfig_secrets(kubeconfig: dict[str, Any]) -> None:
    for entry in kubeconfig.get("users") or []:
        user = (entry or {}).get("user") or {}
        for field in SECRET_USER_FIELDS:
            register_secret(user.get(field))


def fetch_kubeconfig(
    aks_client: Any, *, cluster_id: str, admin: bool = False, customer: str, step: str
) -> bytes:
    """The kubeconfig AKS hands out for the cluster (user credentials unless ``admin``)."""
    rg, name = split_cluster_id(cluster_id)
    kind = "admin" if admin else "user"
    with azure_errors(customer=customer, step=step, action=f"list {kind} credentials of cluster {name}"):
        clusters = aks_client.managed_clusters
        result = (
            clusters.list_cluster_admin_credentials(rg, name)
            if admin
            else clusters.list_cluster_user_credentials(rg, name)
        )
    configs = result.kubeconfigs or []
    if not configs or not configs[0].value:
        raise PermanentError(f"AKS returned no kubeconfig for cluster {name}", customer=customer, step=step)
    return bytes(configs[0].value)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_orphaned_kubeconfigs(directory: Path) -> list[Path]:
    """Delete kubeconfig files (ours: ``kubeconfig-<pid>-*.yaml``) whose process is gone; returns them."""
    removed = []
    for path in directory.glob(f"{KUBECONFIG_PREFIX}*-*.yaml"):
        pid = path.name.removeprefix(KUBECONFIG_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def kubeconfig_file(data: bytes) -> Iterator[Path]:
    """The kubeconfig in a 0600 temporary file, deleted on exit (or by the next use after a crash)."""
    remove_orphaned_kubeconfigs(Path(tempfile.gettempdir()))
    fd, name = tempfile.mkstemp(prefix=f"{KUBECONFIG_PREFIX}{os.getpid()}-", suffix=".yaml")
    path = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def open_kubeconfig(data: bytes, *, customer: str, step: str) -> Iterator[ClusterAccess]:
    """A ClusterAccess for kubeconfig bytes; the file and client live only inside the ``with``."""
    try:
        parsed = yaml.safe_load(data) or {}
    except yaml.YAMLError:
        raise PermanentError(
            "the cluster's kubeconfig is not valid YAML", customer=customer, step=step
        ) from None
    register_kubeconfig_secrets(parsed)
    with kubeconfig_file(data) as path:
        try:
            api = kube_config.new_client_from_config(config_file=str(path))
        except kube_config.ConfigException as exc:
            raise PermanentError(
                f"the cluster's kubeconfig is unusable: {exc}", customer=customer, step=step
            ) from None
        try:
            yield ClusterAccess(kubeconfig_path=path, api=api, server=api.configuration.host)
        finally:
            api.close()


@contextlib.contextmanager
def cluster_access(
    aks_client: Any, *, cluster_id: str, customer: str, step: str, admin: bool = False
) -> Iterator[ClusterAccess]:
    """Fetch the cluster's credentials and open them (see ``open_kubeconfig``)."""
    data = fetch_kubeconfig(aks_client, cluster_id=cluster_id, admin=admin, customer=customer, step=step)
    with open_kubeconfig(data, customer=customer, step=step) as access:
        yield access


@contextlib.contextmanager
def customer_cluster(ctx: Any, cluster: Any, *, step: str, admin: bool = False) -> Iterator[ClusterAccess]:
    """Cluster access for a customer's discovered cluster, with the publisher's containerservice client."""
    from azure.mgmt.containerservice import ContainerServiceClient

    with cluster_access(
        ctx.client(ContainerServiceClient),
        cluster_id=cluster.cluster_id,
        customer=ctx.spec.name,
        step=step,
        admin=admin,
    ) as access:
        yield access
