"""Stub: replaced by the per-cluster Kubernetes APIs."""

from __future__ import annotations

from ..certs import CertPaths
from ..state import World


class KubeApis:
    def __init__(self, world: World, certs: CertPaths) -> None:
        self.world = world

    def start(self) -> "KubeApis":
        return self

    def stop(self) -> None:
        pass
