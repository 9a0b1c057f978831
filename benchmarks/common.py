"""What every scenario shares: the figure lines of the contract, generated customers and one
direct (Prefect-free) onboarding."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from onboarding.context import CustomerContext
from onboarding.models import CustomerSpec, load_customer_spec
from onboarding.pipeline import run_onboarding
from onboarding.results import StepResult
from onboarding.settings import Settings
from sandbox.client import SandboxProcess
from tools.customers import register_customer
from tools.fleet_catalog import customer_document

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    name: str
    value: float
    unit: str = ""  # "" for a ratio
    note: str = ""

    def line(self) -> str:
        if not self.unit:
            return f"ratio {self.name} {self.value:.3f}"
        return f"figure {self.name} {self.value:g} {self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit or "ratio", "note": self.note}


@dataclass
class Bench:
    """The running sandbox, where generated customers' YAML goes, and every figure measured so far."""

    box: SandboxProcess
    time_scale: float
    catalog_dir: Path
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def report(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    @property
    def timing(self) -> dict[str, Any]:
        return dict(self.box.state()["timing"])


def settings() -> Settings:
    """The product's defaults, pointed at the sandbox by its env (already applied) and a helm binary."""
    return Settings(helm_executable=shutil.which("helm") or str(ROOT / ".tools" / "bin" / "helm"))


def make_spec(bench: Bench, index: int, application: dict[str, Any] | None = None) -> CustomerSpec:
    """Customer ``index`` of the generated fleet catalog (shape ``index % 3``: 0 service catalog + managed
    aad-pod-identity, 1 standard mode with Owner, 2 adopted Marketplace + workload identity), its
    ``managed_application`` updated with ``application``, registered in the sandbox and written to the bench
    catalog (what Prefect workers read)."""
    doc = customer_document(index, tenants=10)
    doc["managed_application"].update(application or {})
    spec = load_customer_spec(doc)
    register_customer(bench.box, spec)
    bench.catalog_dir.mkdir(parents=True, exist_ok=True)
    (bench.catalog_dir / f"{spec.name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return spec


class DirectRun(NamedTuple):
    seconds: float
    steps: list[StepResult]


def onboard_direct(spec: CustomerSpec) -> DirectRun:
    """run_onboarding for one customer with a fresh context: its wall seconds and step results."""
    started = time.monotonic()
    steps, _ = run_onboarding(CustomerContext(spec, settings()), dry_run=False)
    return DirectRun(time.monotonic() - started, steps)
