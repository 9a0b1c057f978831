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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `pytest -n N --dist loadgroup`, keep each module on one worker (module fixtures, test order) unless
    it names an xdist group of its own (the Prefect tests share one server per worker). ``tryfirst``: xdist reads
    the marks in its own hook of the same name. (With pytest 9 xdist 3.8's grouping had no effect at all: a
    module's tests were spread over both workers and order-dependent ones failed at random; pytest is pinned <9.)"""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__ if item.module else item.nodeid))
