"""The receiver as it runs in production, ``python -m receiver`` in its own process group on a port, for the tests
that need a real one answering (its own tests, Event Grid's validation handshake of onboarding's subscriptions)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tools.stack import ROOT, _signal_group


def wait_for(predicate: Callable[[], Any], timeout_s: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def receiver_process(
    env: dict[str, str], *, port: int, log: Path, secrets: tuple[str, ...]
) -> Iterator[subprocess.Popen[bytes]]:
    """Run the receiver with ``env`` until the block ends; it answers /healthz before the block starts, and none
    of ``secrets`` is in its log (appended to ``log``) after it stopped."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "receiver", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["status"] == "ok"
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, what="the receiver to answer")
        yield process
    finally:
        _signal_group(process, signal.SIGTERM)
        process.wait(timeout=20)
    text = log.read_text()
    assert not any(secret in text for secret in secrets), "a secret reached the receiver's log"
