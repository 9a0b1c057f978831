"""The watcher's model, fed what the scale set list returns (SDK models, complete scale sets included)."""

from __future__ import annotations

from azure.mgmt.compute.models import (
    UserAssignedIdentitiesValue,
    VirtualMachineScaleSet,
    VirtualMachineScaleSetIdentity,
)

from onboarding.cluster import IdentityRef
from onboarding.watch import CREATED, DRIFTED, ScaleSetSurvey, WatchState, onboarded_state, tick

from .clusters import cluster_with

RG = "/subscriptions/s/resourceGroups/nrg/providers/Microsoft.Compute/virtualMachineScaleSets"
APP = "/subscriptions/s/resourceGroups/mrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app"
KUBELET = (
    "/subscriptions/s/resourceGroups/mrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kubelet"
)


def _scale_set(name: str, *identities: str) -> VirtualMachineScaleSet:
    """As the SDK deserializes a listed scale set (read-only ``id`` set the way the list sets it)."""
    scale_set = VirtualMachineScaleSet(
        location="westeurope",
        identity=VirtualMachineScaleSetIdentity(
            type="UserAssigned",
            user_assigned_identities={i: UserAssignedIdentitiesValue() for i in identities},
        ),
    )
    scale_set.id = f"{RG}/{name}"
    return scale_set


def _survey(*scale_sets: VirtualMachineScaleSet) -> ScaleSetSurvey:
    return ScaleSetSurvey.of(list(scale_sets), [APP])


def _onboarded(*names: str) -> WatchState:
    ident = IdentityRef(resource_id=APP, name="app", client_id="c", principal_id="p")
    cluster = cluster_with(ident).model_copy(update={"scale_sets": [f"{RG}/{n}" for n in names]})
    return onboarded_state(cluster)


def test_drift_after_quiet_ticks_is_drift_and_a_new_pool_is_created() -> None:
    state = _onboarded("aks-nodepool1-1-vmss")
    for _ in range(2):  # quiet ticks: everything complete
        findings, state = tick(state, _survey(_scale_set("aks-nodepool1-1-vmss", KUBELET, APP)))
        assert findings == []
    assert state.seen == ["aks-nodepool1-1-vmss"]
    upgraded = _survey(_scale_set("aks-nodepool1-1-vmss", KUBELET), _scale_set("aks-batch-2-vmss", KUBELET))
    findings, state = tick(state, upgraded)
    assert {f.vmss_name: (f.kind.value, f.missing) for f in findings} == {
        "aks-nodepool1-1-vmss": (DRIFTED, (APP,)),
        "aks-batch-2-vmss": (CREATED, (APP,)),
    }
    assert state.seen == ["aks-nodepool1-1-vmss"], "a gap does not make a pool forgotten"


def test_a_pool_is_seen_once_complete_and_forgotten_once_gone() -> None:
    state = _onboarded("aks-gone-9-vmss", "aks-a-1-vmss")
    findings, state = tick(state, _survey(_scale_set("aks-a-1-vmss"), _scale_set("aks-B-2-vmss", APP)))
    assert [(f.vmss_name, f.kind.value) for f in findings] == [("aks-a-1-vmss", DRIFTED)]
    assert state.seen == ["aks-a-1-vmss", "aks-b-2-vmss"]


def test_identity_ids_compare_without_case() -> None:
    assert _survey(_scale_set("aks-a-1-vmss", APP.upper())).gaps() == {}
