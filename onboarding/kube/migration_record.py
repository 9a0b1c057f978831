"""The cluster's record that a customer was migrated to Azure AD Workload Identity: a ConfigMap labelled as the
customer's in its pod identity namespace.

The catalog stays the truth the operator edits, but a migration ends before anyone commits the YAML change it
reports. Until they do, the nightly reconcile still reads "aad-pod-identity" there; it reads this record first and
onboards in workload identity mode instead of reinstalling pod identity (``steps/migration.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from ..models import PodIdentityMode
from .objects import kube_errors, owned_by, ownership_labels, to_dict

NAME = "ama-onboarding-pod-identity"
MODE_KEY = "mode"
MIGRATED_AT_KEY = "migratedAt"


@dataclass(frozen=True)
class MigrationRecord:
    namespace: str
    mode: PodIdentityMode
    migrated_at: str

    def __str__(self) -> str:
        return f"ConfigMap {self.namespace}/{NAME} (mode {self.mode.value}, migrated {self.migrated_at})"


def read_record(api: ApiClient, *, namespace: str, customer: str, step: str) -> MigrationRecord | None:
    """The customer's record, None when there is none (or the ConfigMap of that name is not ours)."""
    with kube_errors(customer=customer, step=step, action=f"read ConfigMap {namespace}/{NAME}"):
        try:
            found = to_dict(api, CoreV1Api(api).read_namespaced_config_map(NAME, namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
    data = found.get("data") or {}
    if not owned_by(found, customer) or data.get(MODE_KEY) not in {m.value for m in PodIdentityMode}:
        return None
    return MigrationRecord(namespace, PodIdentityMode(data[MODE_KEY]), str(data.get(MIGRATED_AT_KEY, "")))


def write_record(api: ApiClient, *, namespace: str, customer: str, step: str) -> MigrationRecord:
    """Record that the customer is on workload identity now (created once; the caller read it first)."""
    record = MigrationRecord(
        namespace, PodIdentityMode.WORKLOAD_IDENTITY, datetime.now(UTC).isoformat(timespec="seconds")
    )
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": namespace, "labels": ownership_labels(customer)},
        "data": {MODE_KEY: record.mode.value, MIGRATED_AT_KEY: record.migrated_at},
    }
    core = CoreV1Api(api)
    with kube_errors(customer=customer, step=step, action=f"write ConfigMap {namespace}/{NAME}"):
        try:
            core.create_namespaced_config_map(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            core.replace_namespaced_config_map(NAME, namespace, body)
    return record
