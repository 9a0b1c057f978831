"""Service account tokens the kubelet writes into ``projected`` volumes (``serviceAccountToken`` sources).

A token is signed by ``world.signer``: ``iss`` = the cluster's ``oidcIssuerProfile.issuerURL`` (the API server's own
issuer when the OIDC issuer is off), ``sub`` = ``system:serviceaccount:<ns>:<sa>``, ``aud`` = the source's
``audience`` (the issuer when it has none, as the API server's default audience), lifetime = its
``expirationSeconds`` (3600 when unset), and the ``kubernetes.io`` claims naming the pod and service account.
"""

from __future__ import annotations

from typing import Any

from ..state import World

API_SERVER_ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION_S = 3600


def cluster_tenant(world: World, cluster_id: str) -> str:
    """The tenant of the cluster's subscription ("" when the subscription is unknown)."""
    sub_id = cluster_id.split("/")[2].lower()
    found = [s for k, s in world.subscriptions.items() if k.lower() == sub_id]
    return found[0].tenant_id if found else ""


def issuer_of(world: World, cluster_id: str) -> str:
    cluster = world.get(cluster_id) or {}
    profile = cluster.get("properties", {}).get("oidcIssuerProfile") or {}
    return str(profile.get("issuerURL") or profile.get("issuerUrl") or API_SERVER_ISSUER)


def projected_token(
    world: World, cluster_id: str, pod: dict[str, Any], sa_uid: str, source: dict[str, Any]
) -> str:
    """The token of one ``serviceAccountToken`` projection for ``pod``."""
    meta = pod["metadata"]
    sa_name = pod["spec"]["serviceAccountName"]
    subject = f"system:serviceaccount:{meta['namespace']}:{sa_name}"
    issuer = issuer_of(world, cluster_id)
    return world.signer.mint(
        audience=str(source.get("audience") or issuer),
        tenant_id=cluster_tenant(world, cluster_id),
        object_id=sa_uid or subject,
        app_id="",
        lifetime_s=int(source.get("expirationSeconds") or DEFAULT_EXPIRATION_S),
        issuer=issuer,
        subject=subject,
        extra={
            "kubernetes.io": {
                "namespace": meta["namespace"],
                "pod": {"name": meta["name"], "uid": meta["uid"]},
                "serviceaccount": {"name": sa_name, "uid": sa_uid},
            }
        },
    )
