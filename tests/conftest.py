"""Session fixtures: one sandbox process per test session (fast profile), its env applied to this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.client import SandboxProcess


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    box = SandboxProcess(tmp_path_factory.mktemp("sandbox"), profile="fast").start()
    box.apply_env()
    yield box
    box.stop()
