"""The sandbox as a process: ``SandboxProcess`` starts it, SIGTERM stops it cleanly and takes its children along."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sandbox.client import SandboxProcess

from .armkit import eventually

pytestmark = pytest.mark.integration


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]  # the command name may hold spaces
        if state != "Z":
            parents[int(entry.name)] = int(ppid)
    return parents


def _descendants(pid: int) -> set[int]:
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _assert_gone(pids: set[int]) -> None:
    alive = pids & set(_parents())
    assert not alive, f"still running after the sandbox stopped: {sorted(alive)}"


def test_sigterm_stops_the_sandbox_and_its_children(tmp_path: Path) -> None:
    box = SandboxProcess(tmp_path / "sandbox", profile="fast").start()
    assert box.proc is not None and box.proc.stdout is not None
    try:
        children = _descendants(box.proc.pid)
        assert children  # Azurite at least
        assert (tmp_path / "sandbox" / "sandbox.env").is_file()
        admin = urlsplit(box.env["SANDBOX_ADMIN_URL"])
        assert box.admin("GET", "/state")["timing"]["name"] == "fast"
    finally:
        box.stop()  # SIGTERM, then waits for the process
    assert box.proc.returncode == 0
    assert "sandbox stopped" in box.proc.stdout.read()
    eventually(lambda: _assert_gone(children))  # Azurite got SIGTERM from the sandbox's stop
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((admin.hostname, admin.port), timeout=5).close()
