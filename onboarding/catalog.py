"""The customer catalog: one YAML file per customer in ``deployments/customers/``."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import InvalidSpecError
from .models import CustomerSpec, load_customer_spec
from .settings import REPOSITORY_CATALOG as DEFAULT_CATALOG


def load_catalog(directory: Path = DEFAULT_CATALOG) -> list[CustomerSpec]:
    """Every customer in the catalog, validated; raises on the first invalid file, naming it and the field."""
    specs: list[CustomerSpec] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InvalidSpecError(f"{path.name} is not valid YAML: {exc}", customer=path.stem) from None
        spec = load_customer_spec(data, source=path.name)
        if spec.name in seen:
            raise InvalidSpecError(
                f"name {spec.name!r} is used by {seen[spec.name].name} and {path.name}",
                customer=spec.name,
                hint="customer names must be unique",
            )
        seen[spec.name] = path
        specs.append(spec)
    return specs


def find_customer(name: str, directory: Path = DEFAULT_CATALOG) -> CustomerSpec:
    for spec in load_catalog(directory):
        if spec.name == name:
            return spec
    raise InvalidSpecError(
        f"no customer named {name!r} in {directory}",
        customer=name,
        hint="add deployments/customers/<name>.yaml",
    )
