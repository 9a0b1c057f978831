"""Where the served aad-pod-identity chart comes from, and how the repository directory is built.

``shared``: the upstream 4.1.18 package at ``<repo root>/../shared/charts/aad-pod-identity/`` (MIT), copied.
``standin``: the chart written in ``sandbox/charts/standin/aad-pod-identity`` (a fresh clone has no ``../shared``),
packaged. ``SANDBOX_CHART_SOURCE`` forces one; by default ``shared`` when present. The index is made by real
helm (``helm repo index --url``) when helm is found, else written here in the same format.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_CHARTS = REPO_ROOT.parent / "shared" / "charts" / "aad-pod-identity"
STANDIN_CHART = Path(__file__).resolve().parent / "standin" / "aad-pod-identity"
SOURCE_ENV = "SANDBOX_CHART_SOURCE"


def find_helm() -> str | None:
    local = REPO_ROOT / ".tools" / "bin" / "helm"
    return str(local) if local.exists() else shutil.which("helm")


def chart_source(env: Mapping[str, str] = os.environ) -> str:
    """``shared`` or ``standin``: forced by ``SANDBOX_CHART_SOURCE``, else ``shared`` when its package exists."""
    forced = env.get(SOURCE_ENV, "").strip().lower()
    if forced in ("shared", "standin"):
        return forced
    if forced:
        raise ValueError(f"{SOURCE_ENV} must be 'shared' or 'standin', not {forced!r}")
    return "shared" if any(SHARED_CHARTS.glob("*.tgz")) else "standin"


def _run_helm(helm: str, *args: str) -> None:
    done = subprocess.run([helm, *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed: {done.stderr.strip()}")


def _package(chart_dir: Path, dest: Path) -> Path:
    """``helm package`` without helm: a gzipped tar of the chart directory under its chart name."""
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    target = dest / f"{meta['name']}-{meta['version']}.tgz"
    with tarfile.open(target, "w:gz") as tgz:
        tgz.add(chart_dir, arcname=meta["name"])
    return target


def _chart_meta(package: Path) -> dict[str, Any]:
    with tarfile.open(package, "r:gz") as tgz:
        member = next(
            m for m in tgz.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")
        )
        extracted = tgz.extractfile(member)
        assert extracted is not None
        return dict(yaml.safe_load(extracted.read()))


def _write_index(directory: Path, url: str) -> None:
    """``helm repo index DIR --url URL`` without helm."""
    entries: dict[str, list[dict[str, Any]]] = {}
    now = dt.datetime.now(dt.UTC).isoformat()
    for package in sorted(directory.glob("*.tgz")):
        meta = _chart_meta(package)
        digest = hashlib.sha256(package.read_bytes()).hexdigest()
        entry = {**meta, "created": now, "digest": digest, "urls": [f"{url}/{package.name}"]}
        entries.setdefault(meta["name"], []).append(entry)
    index = {"apiVersion": "v1", "entries": entries, "generated": now}
    (directory / "index.yaml").write_text(yaml.safe_dump(index, sort_keys=True))


def build_repository(directory: Path, url: str, *, source: str, helm: str | None) -> list[Path]:
    """Fill ``directory`` with the chart package(s) of ``source`` and an ``index.yaml`` pointing at ``url``."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.tgz"):
        old.unlink()
    if source == "shared":
        packages = [Path(shutil.copy2(p, directory)) for p in sorted(SHARED_CHARTS.glob("*.tgz"))]
    elif helm:
        _run_helm(helm, "package", str(STANDIN_CHART), "--destination", str(directory))
        packages = sorted(directory.glob("*.tgz"))
    else:
        packages = [_package(STANDIN_CHART, directory)]
    if helm:
        _run_helm(helm, "repo", "index", str(directory), "--url", url)
    else:
        _write_index(directory, url)
    return packages
