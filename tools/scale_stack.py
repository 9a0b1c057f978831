"""Prefect at scale on one machine: a private PostgreSQL cluster and a private Redis (Debian packages, which make
installs with tools/install_system_packages.sh), the Prefect API and its background services as separate
processes on them, and process workers. Nothing system-wide is started: every server binds 127.0.0.1 on a free port, keeps its files in
the state directory and is stopped by ``stop()``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from sandbox.httpd import free_port

from .stack import PrefectStack

PG_USER = "postgres"  # the OS user PostgreSQL runs as when we are root (postgres refuses to run as root)
REDIS_SERVER = "/usr/bin/redis-server"


class PackagesMissingError(RuntimeError):
    """PostgreSQL or Redis is not installed (``make test`` and ``make scale-demo`` install them)."""


def pg_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian's /usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def check_packages() -> None:
    """PostgreSQL and Redis are installed (tools/install_system_packages.sh, run by make, installs them)."""
    missing = [
        pkg
        for pkg, present in (
            ("postgresql", pg_bindir() is not None),
            ("redis-server", Path(REDIS_SERVER).exists()),
        )
        if not present
    ]
    if missing:
        raise PackagesMissingError(
            f"{' and '.join(missing)} not installed: run `make scale-demo` or `make test` as root (they install "
            "Debian's packages through tools/install_system_packages.sh)"
        )


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port}")


@dataclass
class PostgresServer:
    """A private cluster: initdb into ``state_dir``, postgres on 127.0.0.1 with its socket in the state dir."""

    state_dir: Path
    database: str = "prefect"
    user: str = "prefect"
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    data_root: Path | None = (
        None  # where the cluster lives; a /tmp folder when postgres cannot reach state_dir
    )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def _as_owner(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", PG_USER, "--", *cmd] if os.geteuid() == 0 else cmd

    def _run(self, cmd: list[str], *, as_owner: bool = True) -> None:
        env = {**os.environ, "PGPASSWORD": self.password}
        argv = self._as_owner(cmd) if as_owner else cmd
        result = subprocess.run(argv, env=env, capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(cmd[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}"
            )

    def _prepare_root(self) -> Path:
        root = self.state_dir / "pg"
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return root
        owner = pwd.getpwnam(PG_USER)
        reachable = subprocess.run(
            ["runuser", "-u", PG_USER, "--", "test", "-x", str(self.state_dir)]
        ).returncode
        if reachable != 0:  # e.g. pytest's /tmp/pytest-of-root is 0700: keep the cluster in /tmp instead
            root = Path(tempfile.mkdtemp(prefix="ama-pg-"))
        os.chown(root, owner.pw_uid, owner.pw_gid)
        return root

    def start(self, timeout_s: float = 60.0) -> PostgresServer:
        bindir = pg_bindir()
        if bindir is None:
            raise PackagesMissingError(
                "PostgreSQL is not installed (tools/install_system_packages.sh installs it)"
            )
        self.port = self.port or free_port()
        self.data_root = root = self._prepare_root()
        pwfile = root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam(PG_USER)
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        pwfile.chmod(0o600)
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={root}"
        self._run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-D",
                str(root / "data"),
                "-l",
                str(root / "postgres.log"),
                "-w",
                "-t",
                str(int(timeout_s)),
                "-o",
                options,
            ]
        )
        self._run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                self.database,
            ],
            as_owner=False,
        )
        return self

    def stop(self) -> None:
        bindir = pg_bindir()
        if (
            self.data_root is None
            or bindir is None
            or not (self.data_root / "data" / "postmaster.pid").exists()
        ):
            return
        self._run([str(bindir / "pg_ctl"), "stop", "-D", str(self.data_root / "data"), "-m", "fast", "-w"])
        if self.data_root != self.state_dir / "pg":
            shutil.rmtree(self.data_root, ignore_errors=True)


@dataclass
class RedisServer:
    """A private redis-server on 127.0.0.1: no persistence, its working files in ``state_dir``."""

    state_dir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> RedisServer:
        directory = self.state_dir / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log = open(directory / "redis.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_for_port(self.proc, self.port, timeout_s, f"redis-server (see {directory / 'redis.log'})")
        return self

    def groups(self, stream: str) -> set[str]:
        """Consumer groups of a stream. A Prefect consumer creates its group right before its first XREADGROUP;
        Redis 7.0 lists a consumer in its group only once a read has returned entries, so a service blocked
        reading an empty stream (``actions`` until a trigger fires) shows its group with 0 consumers."""
        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            return {str(g["name"], "utf-8") for g in client.xinfo_groups(stream)}
        except redis.ResponseError:  # the stream does not exist before its first message or group
            return set()
        finally:
            client.close()

    def stream_lag(self, stream: str = "events") -> dict[str, int]:
        """Entries of a Prefect messaging stream each consumer group has not read yet (its backlog)."""
        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            return {str(g["name"], "utf-8"): int(g.get("lag") or 0) for g in client.xinfo_groups(stream)}
        except redis.ResponseError:  # the stream does not exist before its first message
            return {}
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
                conn.sendall(b"SHUTDOWN NOSAVE\r\n")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass
class ScaleStack:
    """PostgreSQL + Redis + the Prefect API and services on them; ``prefect`` deploys and starts workers."""

    state_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    postgres: PostgresServer = field(init=False)
    redis: RedisServer = field(init=False)
    prefect: PrefectStack = field(init=False)
    timings: dict[str, float] = field(default_factory=dict)
    event_services_ready: bool = False
    services_restarts: int = 0

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self.postgres = PostgresServer(self.state_dir)
        self.redis = RedisServer(self.state_dir)
        self.prefect = PrefectStack(
            self.state_dir / "prefect", extra_env=self.extra_env, services_separately=True
        )

    def server_env(self) -> dict[str, str]:
        """What the API and services processes need to share state: the database and the messaging broker."""
        return {
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.postgres.url,
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
            "PREFECT_REDIS_MESSAGING_PORT": str(self.redis.port),
            # Publish each message at once: with the default batch of 10, event triggers wait ~10 s.
            "PREFECT_REDIS_MESSAGING_PUBLISHER_BATCH_SIZE": "1",
            # services.log then says which services started (ReactiveTriggers, Actions, ...).
            "PREFECT_LOGGING_SERVER_LEVEL": "INFO",
        }

    def start(self, timeout_s: float = 300.0, *, await_event_services: bool = True) -> ScaleStack:
        """``timeout_s`` bounds the API's start: its first start migrates the PostgreSQL schema (minutes on a
        loaded 2-core machine)."""
        try:
            for name, step in (
                ("packages", check_packages),
                ("postgres", self.postgres.start),
                ("redis", self.redis.start),
            ):
                started = time.monotonic()
                step()
                self.timings[name] = time.monotonic() - started
            started = time.monotonic()
            self.prefect.server_env = self.server_env()
            self.prefect.start(timeout_s=timeout_s)
            if await_event_services:
                self.event_services_ready = self._await_event_services()
            self.timings["prefect"] = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def _event_services_ready(self) -> bool:
        return "reactive-triggers" in self.redis.groups("events") and "actions" in self.redis.groups(
            "actions"
        )

    def _await_event_services(self, timeout_s: float = 120.0, attempts: int = 2) -> bool:
        """Wait until the triggers and actions services have their consumer groups (they then read their streams);
        restart the services process if not. Returns whether they do (event triggers fire only then; flows,
        deployments and limits work regardless). An earlier check waited for a consumer in the ``actions`` group,
        which Redis 7.0 shows only after a trigger fired: it reported healthy services as not reading."""
        for attempt in range(1, attempts + 1):
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self._event_services_ready():
                    self.services_restarts = attempt - 1
                    return True
                time.sleep(1.0)
            if attempt < attempts:
                self.prefect.restart_services()
                self.services_restarts = attempt
        return False

    def stop(self) -> None:
        """Stop the Prefect processes, then Redis, then PostgreSQL, each even when an earlier stop failed."""
        try:
            self.prefect.stop()
        finally:
            try:
                self.redis.stop()
            finally:
                self.postgres.stop()

    def __enter__(self) -> ScaleStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
