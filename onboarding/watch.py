"""Node pool watching: which scale sets lack identities, and whether that is a new pool or drift.

Pure functions over what one ARM list returned; the state that tells "new" from "drifted" (the scale sets
already seen complete) is kept by the caller (a Prefect variable per customer). A survey holds EVERY scale set
the list returned, complete ones included: a quiet tick must keep remembering them, so that an AKS upgrade that
later drops their identities is reported as drift, not as a new pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from azure.mgmt.compute.models import VirtualMachineScaleSet
from pydantic import BaseModel, Field

from .azure import vmss
from .cluster import ClusterInfo
from .ids import ResourceId

CREATED = "aks.nodepool.created"
DRIFTED = "aks.nodepool.drifted"
# What Azure's own writes become (Event Grid, through the receiver): the push path beside the watch's findings.
AGENT_POOL_WRITTEN = "aks.agentpool.written"
NODE_POOL_WRITTEN = "aks.nodepool.written"
CLUSTER_WRITTEN = "aks.cluster.written"


class FindingKind(StrEnum):
    CREATED = CREATED
    DRIFTED = DRIFTED


@dataclass(frozen=True)
class NodePoolFinding:
    kind: FindingKind
    vmss_id: str
    missing: tuple[str, ...]

    @property
    def vmss_name(self) -> str:
        return ResourceId(self.vmss_id).name


def vmss_name(vmss_id: str) -> str:
    return ResourceId(vmss_id).name.lower()


@dataclass(frozen=True)
class ScaleSetSurvey:
    """Every scale set of the node resource group -> the wanted identity ids it lacks (empty: complete)."""

    missing_by_vmss: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, scale_sets: list[VirtualMachineScaleSet], wanted: list[str]) -> ScaleSetSurvey:
        return cls({str(s.id): tuple(vmss.missing_ids(s, wanted)) for s in scale_sets})

    def gaps(self) -> dict[str, list[str]]:
        """Only the scale sets that lack an identity."""
        return {v: list(missing) for v, missing in self.missing_by_vmss.items() if missing}

    def names(self) -> set[str]:
        return {vmss_name(v) for v in self.missing_by_vmss}

    def complete(self) -> set[str]:
        return {vmss_name(v) for v, missing in self.missing_by_vmss.items() if not missing}


class WatchState(BaseModel):
    """What the watcher remembers per customer between runs (small: it lives in a Prefect variable)."""

    cluster: ClusterInfo
    seen: list[str] = Field(default_factory=list, description="Scale set names (lower case) seen complete")


def onboarded_state(cluster: ClusterInfo) -> WatchState:
    """After a verified onboarding every scale set discovery found is complete: later gaps on them are drift."""
    seen = sorted(vmss_name(v) for v in cluster.scale_sets)
    return WatchState(cluster=cluster.model_copy(update={"scale_sets": []}), seen=seen)


def find_gaps(survey: ScaleSetSurvey, seen: list[str]) -> list[NodePoolFinding]:
    """One finding per scale set that misses an identity: created when never seen complete, else drifted."""
    known = {s.lower() for s in seen}
    return [
        NodePoolFinding(
            FindingKind.DRIFTED if vmss_name(vmss_id) in known else FindingKind.CREATED,
            vmss_id,
            tuple(missing),
        )
        for vmss_id, missing in sorted(survey.gaps().items())
    ]


def remember_complete(state: WatchState, survey: ScaleSetSurvey) -> WatchState:
    """Add every scale set that now has all identities to ``seen``; forget those the list no longer returns."""
    present = survey.names()
    seen = sorted({s for s in state.seen if s in present} | survey.complete())
    return state.model_copy(update={"seen": seen})


def tick(state: WatchState, survey: ScaleSetSurvey) -> tuple[list[NodePoolFinding], WatchState]:
    """One watch run for one customer: the findings to report and the state to keep for the next run."""
    return find_gaps(survey, state.seen), remember_complete(state, survey)
