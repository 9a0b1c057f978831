"""A minimal ClusterInfo for unit tests that need one but read little of it."""

from __future__ import annotations

from onboarding.cluster import ClusterInfo, IdentityRef


def cluster_with(identity: IdentityRef) -> ClusterInfo:
    """A cluster whose kubelet and application identity are both ``identity``."""
    return ClusterInfo(
        application_id="a",
        managed_resource_group_id="m",
        cluster_id="c",
        cluster_name="k",
        node_resource_group="nrg",
        node_resource_group_id="n",
        kubelet_identity=identity,
        app_identity=identity,
        identities=[identity],
    )
