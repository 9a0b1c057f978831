"""The receiver as it runs in production, ``python -m receiver`` in its own process group on a port, for the tests
that need a real one answering (its own tests, Event Grid's validation handshake of onboarding's subscriptions)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from sandbox.httpd import free_port

from .cloud_actions import wait_for
from .stack import ROOT, _signal_group


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


class Receiver:
    """The receiver for a Prefect API, with its port, spool and log kept across a stop and a start (the same
    receiver coming back); ``key`` and ``sig`` are the Event Grid delivery key and the notification secret."""

    def __init__(self, work: Path, *, api_url: str, catalog: Path, key: str, sig: str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.work = work
        self.secrets = (key, sig)
        self.env = {
            **os.environ,
            "PREFECT_API_URL": api_url,
            "ONBOARDING_CATALOG_DIR": str(catalog),
            "ONBOARDING_RECEIVER_EVENTGRID_KEY": key,
            "ONBOARDING_RECEIVER_NOTIFICATION_SECRET": sig,
            "ONBOARDING_RECEIVER_SPOOL_PATH": str(work / "spool.db"),
        }
        self._running = contextlib.ExitStack()

    def start(self) -> Receiver:
        log = self.work / "receiver.log"
        self._running.enter_context(receiver_process(self.env, port=self.port, log=log, secrets=self.secrets))
        return self

    def stop(self) -> None:
        self._running.close()
