"""A managed cluster PUT on an existing cluster (what ``begin_create_or_update`` after a GET and ``az aks update``
send): an LRO of ``timing.cluster_update_s`` that changes tags and turns the OIDC issuer and workload identity on.

AKS's refusals come first (synchronously, nothing changes): another operation in progress 409
``OperationNotAllowed``, another location 409 ``InvalidResourceLocation``, another ``dnsPrefix`` or
``nodeResourceGroup`` 400 ``PropertyChangeNotAllowed``, turning the OIDC issuer off 400
``OIDCIssuerFeatureCannotBeDisabled``, workload identity without the OIDC issuer 400 ``InvalidParameter``.
The answer (200, ``Updating``) already shows the requested settings and the new issuer URL; the stored cluster gets
them when the operation succeeds. A failed operation (a fault rule on ``managedcluster.update``) changes no
setting and leaves ``provisioningState`` ``Failed``, as AKS leaves a cluster whose operation failed.
Agent pool profiles in the body are ignored: the pools stay as they are. Evidence and differences from AKS:
docs/fidelity/aks-update.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..state import World, new_guid
from .base import ArmError, Call
from .lro import Operation, Operations

UPDATE_OPERATION = "update managed cluster"


@dataclass(frozen=True)
class ClusterChange:
    tags: dict[str, Any]
    oidc_issuer: bool
    issuer_url: str | None
    workload_identity: bool


def _enabled(profile: Any, current: bool) -> bool:
    """A profile's ``enabled`` as sent; what the cluster has when the body leaves it out."""
    if isinstance(profile, dict) and profile.get("enabled") is not None:
        return bool(profile["enabled"])
    return current


def _refuse_immutable(cluster: dict[str, Any], body: dict[str, Any]) -> None:
    sent = str(body.get("location") or cluster["location"])
    if sent.replace(" ", "").lower() != str(cluster["location"]).lower():
        rg = cluster["id"].split("/")[4]
        raise ArmError(
            409,
            "InvalidResourceLocation",
            f"The resource '{cluster['name']}' already exists in location '{cluster['location']}' in resource "
            f"group '{rg}'. A resource with the same name cannot be created in location '{sent}'. Please select "
            "a new resource name.",
        )
    props, current = body.get("properties") or {}, cluster["properties"]
    for name in ("dnsPrefix", "nodeResourceGroup"):
        value = props.get(name)
        if value is not None and str(value).lower() != str(current[name]).lower():
            raise ArmError(
                400, "PropertyChangeNotAllowed", f"Changing property '{name}' is not allowed.", target=name
            )


def validated_change(world: World, cluster: dict[str, Any], body: dict[str, Any]) -> ClusterChange:
    """What the PUT asks for, or AKS's refusal."""
    _refuse_immutable(cluster, body)
    props, current = body.get("properties") or {}, cluster["properties"]
    had_oidc = bool(current["oidcIssuerProfile"].get("enabled"))
    oidc = _enabled(props.get("oidcIssuerProfile"), had_oidc)
    if had_oidc and not oidc:
        raise ArmError(400, "OIDCIssuerFeatureCannotBeDisabled", "OIDC issuer feature cannot be disabled.")
    had_workload = bool(((current.get("securityProfile") or {}).get("workloadIdentity") or {}).get("enabled"))
    workload = _enabled(((props.get("securityProfile") or {}).get("workloadIdentity")), had_workload)
    if workload and not oidc:
        raise ArmError(
            400,
            "InvalidParameter",
            "Enabling workload identity requires enabling OIDC issuer (oidcIssuerProfile.enabled).",
            target="securityProfile.workloadIdentity",
        )
    issuer = current["oidcIssuerProfile"].get("issuerURL")
    if oidc and not had_oidc:
        issuer = f"{world.urls['aad']}/oidc/{new_guid()}/"
    tags = body.get("tags") if "tags" in body else cluster.get("tags")
    return ClusterChange(dict(tags or {}), oidc, issuer, workload)


def apply_change(props: dict[str, Any], change: ClusterChange) -> None:
    props["oidcIssuerProfile"] = {"enabled": change.oidc_issuer}
    if change.issuer_url:
        # Azure's key is issuerURL; issuerUrl is the sandbox-internal alias other services read.
        props["oidcIssuerProfile"] |= {"issuerURL": change.issuer_url, "issuerUrl": change.issuer_url}
    props.setdefault("securityProfile", {})["workloadIdentity"] = {"enabled": change.workload_identity}


def _set_states(world: World, cluster: dict[str, Any], cluster_state: str, pool_state: str) -> None:
    cluster["properties"]["provisioningState"] = cluster_state
    for pool in world.children(cluster["id"], f"{cluster['type']}/agentPools"):
        pool["properties"]["provisioningState"] = pool_state


def start_update(call: Call, ops: Operations, cluster: dict[str, Any], change: ClusterChange) -> Operation:
    """Mark the cluster and its pools Updating and start the LRO (the caller holds ``world.lock`` and has refused
    a cluster with an operation in progress)."""
    world = call.world
    cluster["_sandbox"]["operation"] = UPDATE_OPERATION
    _set_states(world, cluster, "Updating", "Updating")

    def complete() -> None:
        with world.lock:
            cluster["tags"] = change.tags
            apply_change(cluster["properties"], change)
            _set_states(world, cluster, "Succeeded", "Succeeded")
            cluster["_sandbox"]["operation"] = None

    def failed() -> None:
        with world.lock:
            _set_states(world, cluster, "Failed", "Succeeded")
            cluster["_sandbox"]["operation"] = None

    return ops.start(
        "managedcluster.update", world.timing.cluster_update_s, complete, target=cluster["id"], undo=failed
    )


def requested_view(view: dict[str, Any], change: ClusterChange) -> dict[str, Any]:
    """The PUT's answer: the cluster as it will be (AKS answers with the requested model, ``Updating``)."""
    shown = copy.deepcopy(view)
    shown["tags"] = change.tags
    apply_change(shown["properties"], change)
    return shown
