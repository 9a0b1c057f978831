"""Stub: replaced by Azurite + the ADLS Gen2 front."""

from __future__ import annotations

from pathlib import Path

from ..certs import CertPaths
from ..state import World


class StorageStack:
    url = "https://127.0.0.1:1"

    def __init__(self, world: World, certs: CertPaths, state_dir: Path) -> None:
        self.world = world

    def start(self) -> "StorageStack":
        return self

    def stop(self) -> None:
        pass
