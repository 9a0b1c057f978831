"""Stub: replaced by the chart repository."""

from __future__ import annotations

from pathlib import Path

from ..state import World


class ChartRepo:
    url = "http://127.0.0.1:1"

    def __init__(self, world: World, state_dir: Path) -> None:
        self.world = world

    def start(self) -> "ChartRepo":
        return self

    def stop(self) -> None:
        pass
