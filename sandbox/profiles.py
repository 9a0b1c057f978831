"""Latency profiles: how long the simulated cloud takes for the things that are slow in Azure.

``realistic`` holds durations as seen in Azure (seconds) and is multiplied by ``time_scale`` so a demo or
benchmark finishes in minutes; ``fast`` is for tests. The product never sees these numbers: it polls.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Timing:
    name: str
    app_deploy_s: float
    agentpool_create_s: float
    # A managed cluster PUT on an existing cluster (e.g. enabling the OIDC issuer and workload identity).
    cluster_update_s: float
    vmss_update_s: float
    refresh_permissions_s: float
    role_propagation_s: float
    principal_not_found_s: float
    pod_start_s: float
    # Managed application notifications: the first retry's wait (doubling after) and how long retries go on.
    notification_retry_s: float
    notification_window_s: float
    reads_burst: int
    reads_per_s: float
    writes_burst: int
    writes_per_s: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


FAST = Timing(
    name="fast",
    app_deploy_s=0.3,
    agentpool_create_s=0.3,
    cluster_update_s=0.3,
    vmss_update_s=0.05,
    refresh_permissions_s=0.1,
    role_propagation_s=0.2,
    principal_not_found_s=0.1,
    pod_start_s=0.05,
    notification_retry_s=0.05,
    notification_window_s=5.0,
    reads_burst=100_000,
    reads_per_s=100_000.0,
    writes_burst=100_000,
    writes_per_s=100_000.0,
)

# Durations observed in Azure, before scaling.
REALISTIC = Timing(
    name="realistic",
    app_deploy_s=600.0,
    agentpool_create_s=240.0,
    # azure-cli recording test_aks_update_with_oidc_issuer_enabled.yaml: the update LRO ran 2 min 9 s.
    cluster_update_s=130.0,
    vmss_update_s=30.0,
    refresh_permissions_s=60.0,
    role_propagation_s=300.0,
    principal_not_found_s=60.0,
    pod_start_s=10.0,
    notification_retry_s=10.0,
    notification_window_s=36_000.0,
    reads_burst=250,
    reads_per_s=25.0,
    writes_burst=200,
    writes_per_s=10.0,
)

DEFAULT_REALISTIC_SCALE = 0.02


def timing_for(profile: str, time_scale: float | None = None) -> Timing:
    if profile == "fast":
        return FAST
    if profile != "realistic":
        raise ValueError(f"unknown profile {profile!r}: use fast or realistic")
    scale = DEFAULT_REALISTIC_SCALE if time_scale is None else time_scale
    return replace(
        REALISTIC,
        app_deploy_s=REALISTIC.app_deploy_s * scale,
        agentpool_create_s=REALISTIC.agentpool_create_s * scale,
        cluster_update_s=REALISTIC.cluster_update_s * scale,
        vmss_update_s=REALISTIC.vmss_update_s * scale,
        refresh_permissions_s=REALISTIC.refresh_permissions_s * scale,
        role_propagation_s=REALISTIC.role_propagation_s * scale,
        principal_not_found_s=REALISTIC.principal_not_found_s * scale,
        pod_start_s=REALISTIC.pod_start_s * scale,
        notification_retry_s=REALISTIC.notification_retry_s * scale,
        notification_window_s=REALISTIC.notification_window_s * scale,
    )
