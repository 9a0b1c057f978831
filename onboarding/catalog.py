"""The customer catalog: one YAML file per customer, in ``settings.catalog_dir`` (default
``deployments/customers/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidSpecError
from .models import CustomerSpec, load_customer_spec
from .settings import REPOSITORY_CATALOG as DEFAULT_CATALOG

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: str, first_line: int, second_line: int) -> None:
        self.key, self.first_line, self.second_line = key, first_line, second_line
        super().__init__(f"key {key!r} is written twice (lines {first_line} and {second_line})")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping: PyYAML would keep the last value silently,
    so a file could mean something other than what its first reader sees."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # keys merged in with << may be overridden: that is their purpose
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(str(key), seen[key], line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_spec_file(path: Path) -> Any:
    """The YAML document of one catalog file; invalid YAML and duplicate keys are refused, naming the file."""
    try:
        return yaml.load(path.read_text(), Loader=_StrictLoader)
    except DuplicateKeyError as exc:
        raise InvalidSpecError(
            f"{path}: key {exc.key!r} is written twice, on lines {exc.first_line} and {exc.second_line}",
            customer=path.stem,
            hint="keep one of them: YAML would silently use the last",
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidSpecError(f"{path.name} is not valid YAML: {exc}", customer=path.stem) from None


def load_catalog(directory: Path = DEFAULT_CATALOG) -> list[CustomerSpec]:
    """Every customer in the catalog, validated; raises on the first invalid file, naming it and the field."""
    if not directory.is_dir():
        raise InvalidSpecError(
            f"the catalog {directory} is not a folder",
            hint="point --catalog or ONBOARDING_CATALOG_DIR at the folder of customer YAML files",
        )
    specs: list[CustomerSpec] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = load_customer_spec(read_spec_file(path), source=path.name)
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
        f"no customer named {name!r} in the catalog {directory}",
        customer=name,
        hint=f"add {directory / (name + '.yaml')} (or point ONBOARDING_CATALOG_DIR at the catalog that has it)",
    )
