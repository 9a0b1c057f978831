"""Starts a sandbox as a subprocess (``python -m sandbox up``) and talks to its admin API.

Used by tests, the demo and benchmarks; the product never imports it (it reads ``sandbox.env`` settings).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


@dataclass
class SandboxProcess:
    state_dir: Path
    profile: str = "fast"
    time_scale: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    start_seconds: float = 0.0

    def start(self, timeout_s: float = 90.0) -> SandboxProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "sandbox",
            "up",
            "--state-dir",
            str(self.state_dir),
            "--profile",
            self.profile,
        ]
        if self.time_scale is not None:
            cmd += ["--time-scale", str(self.time_scale)]
        log = open(self.state_dir / "sandbox.log", "w")  # noqa: SIM115 - lives as long as the process
        started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=Path(__file__).resolve().parent.parent
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if "sandbox ready" in line:
                break
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"sandbox exited: see {self.state_dir / 'sandbox.log'}")
        else:
            self.stop()
            raise TimeoutError("sandbox did not get ready")
        self.start_seconds = time.monotonic() - started
        self.env = read_env_file(self.state_dir / "sandbox.env")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def apply_env(self) -> None:
        os.environ.update(self.env)

    # --- admin API ---
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.env["SANDBOX_ADMIN_URL"] + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def requests_log(self, since: int = 0) -> list[dict[str, Any]]:
        return self.admin("GET", f"/requests?since={since}")["requests"]

    def mark(self) -> int:
        """The current length of the ARM request log (pass it as ``since`` to see only later requests)."""
        return int(self.admin("GET", "/requests?since=1000000000")["next"])

    def arm_writes(self, since: int, *subscription_ids: str) -> list[str]:
        """The ARM writes since a mark under these subscriptions, as ``"METHOD path"`` (re-runs and dry runs
        expect none). A session's sandbox is shared (another module's triggered run may still be writing for its
        own customer), so a count names whose writes it counts."""
        if not subscription_ids:
            raise TypeError("arm_writes: name the subscriptions whose writes count")
        under = tuple(f"/subscriptions/{s}/".lower() for s in subscription_ids)
        return [
            f"{e['method']} {e['path']}"
            for e in self.requests_log(since)
            if e["kind"] == "write" and e["path"].lower().startswith(under)
        ]

    def arm_counts(self, since: int) -> Counter[str]:
        """ARM requests since a mark: ``read``/``write`` by kind, and ``429``. LRO status reads carry no
        subscription, so a count belongs to one customer only when nothing else runs meanwhile."""
        counts: Counter[str] = Counter()
        for request in self.requests_log(since):
            counts[request["kind"]] += 1
            if request["status"] == 429:
                counts["429"] += 1
        return counts

    def arm_figure(self, name: str, since: int) -> str:
        """A test's figure line of the ARM reads and writes since a mark."""
        counts = self.arm_counts(since)
        return f"figure {name}_arm_requests reads={counts['read']} writes={counts['write']}"

    def add_customer(self, **body: Any) -> dict[str, Any]:
        return self.admin("POST", "/customers", body)

    def set_faults(self, rules: list[dict[str, Any]]) -> Any:
        return self.admin("POST", "/faults", {"rules": rules})

    def clear_faults(self) -> Any:
        return self.admin("DELETE", "/faults")

    def state(self) -> dict[str, Any]:
        return self.admin("GET", "/state")

    def upgrade_cluster(self, cluster_id: str) -> Any:
        return self.admin("POST", f"/clusters{cluster_id}/upgrade")

    def add_principal(self, **body: Any) -> dict[str, Any]:
        """A service principal with a secret (``roles``: [{"scope", "role"}] effective at once)."""
        return self.admin("POST", "/principals", body)

    def lockdown(self, scope: str, locked: bool = True) -> Any:
        return self.admin("POST", "/lockdown", {"scope": scope, "locked": locked})

    def set_timing(self, **changes: float) -> dict[str, Any]:
        """Override delays or throttle buckets of the running profile (``DELETE /timing`` restores them)."""
        return self.admin("POST", "/timing", changes)

    def reset_timing(self) -> dict[str, Any]:
        return self.admin("DELETE", "/timing")
