from __future__ import annotations

from onboarding.cluster import IdentityRef
from onboarding.watch import CREATED, DRIFTED, WatchState, find_gaps, remember_complete

from .clusters import cluster_with

RG = "/subscriptions/s/resourceGroups/nrg/providers/Microsoft.Compute/virtualMachineScaleSets"
APP = "/subscriptions/s/resourceGroups/mrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app"


def _state(seen: list[str]) -> WatchState:
    ident = IdentityRef(resource_id=APP, name="app", client_id="c", principal_id="p")
    return WatchState(cluster=cluster_with(ident), seen=seen)


def test_new_scale_set_is_created_and_known_one_is_drifted() -> None:
    missing = {f"{RG}/aks-pool1-1-vmss": [APP], f"{RG}/aks-pool2-2-vmss": [APP], f"{RG}/aks-ok-3-vmss": []}
    findings = find_gaps(missing, seen=["aks-pool1-1-vmss"])
    kinds = {f.vmss_name: f.kind.value for f in findings}
    assert kinds == {"aks-pool1-1-vmss": DRIFTED, "aks-pool2-2-vmss": CREATED}


def test_nothing_missing_means_no_finding() -> None:
    assert find_gaps({f"{RG}/aks-a-1-vmss": []}, seen=[]) == []


def test_complete_scale_sets_become_seen_and_deleted_ones_are_forgotten() -> None:
    state = _state(["aks-gone-9-vmss", "aks-a-1-vmss"])
    updated = remember_complete(state, {f"{RG}/aks-a-1-vmss": [APP], f"{RG}/aks-B-2-vmss": []})
    assert updated.seen == ["aks-a-1-vmss", "aks-b-2-vmss"]
