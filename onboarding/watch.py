"""Node pool watching: which scale sets lack identities, and whether that is a new pool or drift.

Pure functions over what one ARM list returned; the state that tells "new" from "drifted" (the scale sets
already seen complete) is kept by the caller (a Prefect variable per customer).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

from .cluster import ClusterInfo

CREATED = "aks.nodepool.created"
DRIFTED = "aks.nodepool.drifted"


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
        return self.vmss_id.rstrip("/").rsplit("/", 1)[-1]


class WatchState(BaseModel):
    """What the watcher remembers per customer between runs (small: it lives in a Prefect variable)."""

    cluster: ClusterInfo
    seen: list[str] = Field(default_factory=list, description="Scale set names (lower case) seen complete")


def vmss_name(vmss_id: str) -> str:
    return vmss_id.rstrip("/").rsplit("/", 1)[-1].lower()


def find_gaps(missing_by_vmss: dict[str, list[str]], seen: list[str]) -> list[NodePoolFinding]:
    """One finding per scale set that misses an identity: created when never seen complete, else drifted."""
    known = {s.lower() for s in seen}
    findings = []
    for vmss_id, missing in sorted(missing_by_vmss.items()):
        if missing:
            kind = FindingKind.DRIFTED if vmss_name(vmss_id) in known else FindingKind.CREATED
            findings.append(NodePoolFinding(kind, vmss_id, tuple(missing)))
    return findings


def remember_complete(state: WatchState, missing_by_vmss: dict[str, list[str]]) -> WatchState:
    """Add every scale set that now has all identities to ``seen`` (and forget pools that are gone)."""
    present = {vmss_name(v) for v in missing_by_vmss}
    complete = {vmss_name(v) for v, missing in missing_by_vmss.items() if not missing}
    seen = sorted(({s for s in state.seen if s in present}) | complete)
    return state.model_copy(update={"seen": seen})
