"""What a killed run leaves behind is removed by the next one: kubeconfig files of dead processes, and probe
objects nobody will clean up (finished or past-deadline Jobs, ConfigMaps and pods without their Job)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from onboarding.kube.kubeconfig import kubeconfig_file, remove_orphaned_kubeconfigs
from onboarding.kube.probe_job import ORPHAN_GRACE_S, RUN_LABEL, stale_probe_runs

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_kubeconfig_files_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / f"kubeconfig-{_dead_pid()}-abc.yaml"
    alive = tmp_path / f"kubeconfig-{os.getpid()}-def.yaml"
    other = tmp_path / "kubeconfig-notes.yaml"
    for path in (dead, alive, other):
        path.write_text("users: []\n")
    assert remove_orphaned_kubeconfigs(tmp_path) == [dead]
    assert not dead.exists() and alive.exists() and other.exists()


def test_kubeconfig_file_is_private_named_for_its_process_and_sweeps_the_dead() -> None:
    leftover = Path(tempfile.gettempdir()) / f"kubeconfig-{_dead_pid()}-leftover.yaml"
    leftover.write_text("users: []\n")
    with kubeconfig_file(b"apiVersion: v1\n") as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.name.startswith(f"kubeconfig-{os.getpid()}-")
        assert not leftover.exists()
    assert not path.exists()


def _obj(run: str, age_s: float, **extra: Any) -> dict[str, Any]:
    created = (NOW - timedelta(seconds=age_s)).isoformat().replace("+00:00", "Z")
    return {"metadata": {"name": run, "labels": {RUN_LABEL: run}, "creationTimestamp": created}, **extra}


def _job(run: str, age_s: float, *, done: bool = False, deadline: int = 60) -> dict[str, Any]:
    status = {"conditions": [{"type": "Complete", "status": "True"}]} if done else {"active": 1}
    return _obj(run, age_s, spec={"activeDeadlineSeconds": deadline}, status=status)


def test_stale_probe_runs() -> None:
    jobs = [
        _job("finished", 5, done=True),
        _job("running", 5),
        _job("past-deadline", 60 + ORPHAN_GRACE_S + 1),
        _job("mine", 1, done=True),
    ]
    others = [
        _obj("running", 5),  # the ConfigMap of a live run
        _obj("no-job-old", ORPHAN_GRACE_S + 1),  # killed between ConfigMap and Job
        _obj("no-job-young", 1),  # a live run about to create its Job
    ]
    assert stale_probe_runs(jobs, others, now=NOW, keep="mine") == ["finished", "no-job-old", "past-deadline"]
