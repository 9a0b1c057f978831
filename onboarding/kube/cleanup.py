"""Offboarding in the cluster: find and delete the pod identity objects this product made for a customer.

Only objects carrying both ownership labels (``app.kubernetes.io/managed-by: ama-onboarding`` and
``ama-onboarding/customer: <name>``) are touched: AzureIdentityBindings, AzureIdentities (aad-pod-identity),
ServiceAccounts (workload identity) and the migration record ConfigMap (``migration_record.py``), in every namespace. Namespaces are never deleted: they may hold workloads.
``helm_release_recorded`` tells whether there is a chart release to look at with helm at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from . import migration_record
from . import pod_identity as aad
from .objects import CUSTOMER_LABEL, MANAGED_BY_LABEL, MANAGER, kube_errors, owned_by, to_dict

SERVICE_ACCOUNT = "ServiceAccount"
CONFIG_MAP = "ConfigMap"
# Bindings before the identities they name.
CUSTOM_KINDS = (("AzureIdentityBinding", aad.BINDINGS), ("AzureIdentity", aad.IDENTITIES))

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OwnedObject:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def ownership_selector(customer: str) -> str:
    return f"{MANAGED_BY_LABEL}={MANAGER},{CUSTOMER_LABEL}={customer}"


def _owned(api: ApiClient, kind: str, items: list[Any], customer: str) -> list[OwnedObject]:
    found = []
    for item in items:
        body = to_dict(api, item)
        if owned_by(body, customer):
            meta = body["metadata"]
            found.append(OwnedObject(kind, meta.get("namespace") or "", meta["name"]))
    return found


def find_owned(api: ApiClient, *, customer: str, step: str) -> list[OwnedObject]:
    """The customer's labelled objects, bindings first; a kind whose CRD is not installed has none."""
    custom, core = CustomObjectsApi(api), CoreV1Api(api)
    selector = ownership_selector(customer)
    found: list[OwnedObject] = []
    for kind, plural in CUSTOM_KINDS:
        with kube_errors(customer=customer, step=step, action=f"list {kind} objects"):
            try:
                listed = custom.list_cluster_custom_object(
                    aad.GROUP, aad.VERSION, plural, label_selector=selector
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
                logger.info(
                    "customer %s: no %s objects: the cluster does not serve %s/%s %s (CRD not installed)",
                    customer,
                    kind,
                    aad.GROUP,
                    aad.VERSION,
                    plural,
                )
                continue
        found += _owned(api, kind, listed.get("items") or [], customer)
    with kube_errors(customer=customer, step=step, action="list service accounts"):
        accounts = core.list_service_account_for_all_namespaces(label_selector=selector).items
    with kube_errors(customer=customer, step=step, action="list migration records"):
        maps = core.list_config_map_for_all_namespaces(label_selector=selector).items
    records = [m for m in maps if m.metadata.name == migration_record.NAME]
    return (
        found + _owned(api, SERVICE_ACCOUNT, accounts, customer) + _owned(api, CONFIG_MAP, records, customer)
    )


def helm_release_recorded(api: ApiClient, *, release: str, namespace: str, customer: str, step: str) -> bool:
    """Whether helm's release storage (Secrets labelled ``owner=helm``, ``name=<release>``) holds the release, read
    with the Kubernetes API: finding none needs no helm binary."""
    with kube_errors(
        customer=customer, step=step, action=f"list helm records of release {namespace}/{release}"
    ):
        records = CoreV1Api(api).list_namespaced_secret(
            namespace, label_selector=f"owner=helm,name={release}"
        )
    return bool(records.items)


def delete_owned(api: ApiClient, obj: OwnedObject, *, customer: str, step: str) -> None:
    """Delete one object found by ``find_owned``; already gone is fine."""
    with kube_errors(customer=customer, step=step, action=f"delete {obj}"):
        try:
            if obj.kind == SERVICE_ACCOUNT:
                CoreV1Api(api).delete_namespaced_service_account(obj.name, obj.namespace)
            elif obj.kind == CONFIG_MAP:
                CoreV1Api(api).delete_namespaced_config_map(obj.name, obj.namespace)
            else:
                plural = dict(CUSTOM_KINDS)[obj.kind]
                CustomObjectsApi(api).delete_namespaced_custom_object(
                    aad.GROUP, aad.VERSION, obj.namespace, plural, obj.name
                )
        except ApiException as exc:
            if exc.status != 404:
                raise
            logger.info("customer %s: %s was already gone", customer, obj)
