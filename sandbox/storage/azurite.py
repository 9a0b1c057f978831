"""The Azurite blob emulator as a child process: found in ``node_modules/.bin`` or on PATH, HTTPS with the
sandbox certificate, OAuth checking on, in-memory data. ``stop()`` ends its whole process group."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..certs import CertPaths
from ..httpd import free_port
from .naming import AZURITE_ACCOUNT

REPO_ROOT = Path(__file__).resolve().parents[2]


def find_azurite() -> str:
    local = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise RuntimeError(
        "azurite-blob (the Azure Storage emulator, npm package azurite) was not found in "
        f"{local.parent} nor on PATH: run `make install` (it runs `npm install` from package.json)"
    )


class Azurite:
    def __init__(self, certs: CertPaths, log_path: Path) -> None:
        self.certs = certs
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in_s = 0.0

    @property
    def account_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    def start(self, timeout_s: float = 30.0) -> Azurite:
        started = time.monotonic()
        self.port = free_port()
        cmd = [
            find_azurite(),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            "--cert",
            str(self.certs.server_cert),
            "--key",
            str(self.certs.server_key),
            "--oauth",
            "basic",
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout_s
        while not self._listening():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"azurite exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"azurite did not listen within {timeout_s} s: see {self.log_path}")
            time.sleep(0.02)
        self.started_in_s = time.monotonic() - started
        return self

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def _die_with_parent() -> None:
    """Linux: Azurite gets SIGTERM when the sandbox process dies, even by SIGKILL (no orphaned emulators)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
