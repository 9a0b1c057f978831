"""Starts the moving parts around the product for the demo, e2e tests and benchmarks: a Prefect server with a
project-local home, the deployments from prefect.yaml, and process workers. Everything binds 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.httpd import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORK_POOL = "ama-onboarding"
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _prefect() -> list[str]:
    exe = BIN / "prefect"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "prefect"]


@dataclass
class PrefectStack:
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_API_URL": self.api_url,
                "PREFECT_SERVER_API_HOST": "127.0.0.1",
                "PREFECT_SERVER_API_PORT": str(self.port),
                "PREFECT_UI_API_URL": self.api_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_WORKER_PREFETCH_SECONDS": "2",
                "PREFECT_LOGGING_LEVEL": env.get("PREFECT_LOGGING_LEVEL", "INFO"),
                "PATH": f"{BIN}{os.pathsep}{ROOT / '.tools' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            }
        )
        return env

    def start(self, timeout_s: float = 120.0) -> PrefectStack:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log = open(self.home / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.server = subprocess.Popen(
            [*_prefect(), "server", "start"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {self.home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        raise TimeoutError("prefect server did not become healthy")

    def run_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_prefect(), *args], env=self.env(), cwd=ROOT, check=check, text=True, capture_output=True
        )

    def deploy(self, *, concurrency: int = 4) -> None:
        self.run_cli("work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
        self.run_cli("work-pool", "set-concurrency-limit", WORK_POOL, str(concurrency))
        self.run_cli("--no-prompt", "deploy", "--all")

    def start_worker(self, name: str = "worker-1") -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the worker
        proc = subprocess.Popen(
            [*_prefect(), "worker", "start", "--pool", WORK_POOL, "--type", "process", "--name", name],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in [*self.workers, self.server]:
            if proc and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.server]:
            if proc:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def run_deployments(
        self, names: list[str], *, timeout_s: float = 900.0, parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Start each deployment as the UI's Run button does and wait for all; returns final flow runs by name."""
        os.environ["PREFECT_API_URL"] = self.api_url
        return asyncio.run(_run_and_wait(names, timeout_s, parameters))


async def _run_and_wait(
    names: list[str], timeout_s: float, parameters: dict[str, Any] | None
) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    runs = {}
    for name in names:
        runs[name] = await run_deployment(name, timeout=0, parameters=parameters)
    deadline = time.monotonic() + timeout_s
    final: dict[str, Any] = {}
    async with get_client() as client:
        while len(final) < len(runs) and time.monotonic() < deadline:
            for name, run in runs.items():
                if name in final:
                    continue
                current = await client.read_flow_run(run.id)
                if current.state and current.state.type.value in FINAL_STATES:
                    final[name] = current
            await asyncio.sleep(1.0)
    for name, run in runs.items():
        final.setdefault(name, run)
    return final
