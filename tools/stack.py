"""Starts the moving parts around the product for the demo, e2e tests and benchmarks: a Prefect server with a
project-local home, the deployments from prefect.yaml, and process workers. Everything binds 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    # Only for the server processes (database URL, messaging broker): workers and flow runs never see them.
    server_env: dict[str, str] = field(default_factory=dict)
    # API (`server start --no-services`) and background services (`server services start`) as two processes.
    services_separately: bool = False
    port: int = 0
    server: subprocess.Popen[bytes] | None = None
    services: subprocess.Popen[bytes] | None = None
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

    def _spawn_server(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.home / log_name, "wb")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(
            [*_prefect(), *args],
            env={**self.env(), **self.server_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def start(self, timeout_s: float = 300.0) -> PrefectStack:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        api_args = ["server", "start", "--no-services"] if self.services_separately else ["server", "start"]
        self.server = self._spawn_server(api_args, "server.log")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {self.home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise TimeoutError("prefect server did not become healthy")
        if self.services_separately:
            # After the API is healthy: it has run the database migrations the services rely on.
            self.services = self._spawn_server(["server", "services", "start"], "services.log")
        return self

    def restart_services(self) -> None:
        """Replace the background services process (when ``services_separately``)."""
        if self.services and self.services.poll() is None:
            _signal_group(self.services, signal.SIGTERM)
            try:
                self.services.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(self.services, signal.SIGKILL)
                self.services.wait(timeout=10)
        self.services = self._spawn_server(["server", "services", "start"], "services.log")

    def run_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_prefect(), *args], env=self.env(), cwd=ROOT, check=check, text=True, capture_output=True
        )

    def deploy(self, *, concurrency: int = 4) -> None:
        self.run_cli("work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
        self.run_cli("work-pool", "set-concurrency-limit", WORK_POOL, str(concurrency))
        self.run_cli("--no-prompt", "deploy", "--all")

    def start_worker(
        self, name: str = "worker-1", *, limit: int | None = None, queues: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A process worker; ``limit`` caps the flow runs it runs at once (default: only the pool's limit);
        ``queues`` restricts it to those work queues of the pool (default: all)."""
        cmd = [*_prefect(), "worker", "start", "--pool", WORK_POOL, "--type", "process", "--name", name]
        cmd += [arg for queue in queues or [] for arg in ("--work-queue", queue)]
        return self._start_runner(name, [*cmd, "--limit", str(limit)] if limit else cmd)

    def start_warm_runner(
        self, flows: list[str] | None = None, *, timeout_s: float = 300.0
    ) -> subprocess.Popen[bytes]:
        """The long-lived runner of the event path's flows (``flows/warm_runner.py``; default: its own list),
        returned once it has imported them and polls."""
        cmd = [sys.executable, "-m", "flows.warm_runner", "--pool", WORK_POOL]
        cmd = [*cmd, "--flows", ",".join(flows)] if flows else cmd
        # what the deployments' job variables give a worker's flow run process
        proc = self._start_runner("warm-runner", cmd, {"PREFECT_LOGGING_EXTRA_LOGGERS": "onboarding"})
        log, deadline = self.home / "warm-runner.log", time.monotonic() + timeout_s
        while b"polling pool" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"warm runner not polling; see {log}")
            time.sleep(0.25)
        return proc

    def _start_runner(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            cmd,
            env={**self.env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        _terminate([p for p in [*self.workers, self.services, self.server] if p])

    def stop_runner(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop one worker or warm runner this stack started."""
        _terminate([proc])
        self.workers.remove(proc)

    def post_event(
        self, event: str, resource: dict[str, str], payload: dict[str, Any] | None = None
    ) -> tuple[str, datetime]:
        """Post one event to the REST API's ``POST /events`` (as the receiver forwards its events); returns its
        id and time."""
        event_id, occurred = str(uuid.uuid4()), datetime.now(UTC)
        body = [{"id": event_id, "occurred": occurred.isoformat(), "event": event, "resource": resource}]
        body[0]["payload"] = payload or {}
        request = urllib.request.Request(
            f"{self.api_url}/events",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30):
            return event_id, occurred

    def run_deployments(
        self, names: list[str], *, timeout_s: float = 900.0, parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Start each deployment as the UI's Run button does and wait for all; returns final flow runs by name."""
        with self.settings():
            return asyncio.run(_run_and_wait(names, timeout_s, parameters))

    def wait_until_idle(self, *, quiet_s: float = 2.0, timeout_s: float = 120.0) -> bool:
        """Wait until no flow run is pending or running for ``quiet_s`` (an event's triggered run appears a moment
        after the event); False when ``timeout_s`` passed first. Tests call it so one module's background runs
        do not write while the next module counts its own writes."""
        query = json.dumps(
            {"flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}}, "limit": 1}
        ).encode()
        deadline, idle_since = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            request = urllib.request.Request(
                f"{self.api_url}/flow_runs/filter",
                data=query,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                busy = bool(json.load(answer))
            now = time.monotonic()
            idle_since = None if busy else (idle_since or now)
            if idle_since is not None and now - idle_since >= quiet_s:
                return True
            time.sleep(0.5)
        return False

    def settings(self) -> Any:
        """Point this process's Prefect client at the stack (Prefect reads its env only at import)."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        return temporary_settings(updates={PREFECT_API_URL: self.api_url})


def _terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the process and what it started in its session (each was started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


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
