"""The customer catalog: one YAML file per customer, in ``settings.catalog_dir`` (ONBOARDING_CATALOG_DIR, default
``deployments/customers/``), read when a run or command starts. It is the one truth for every flow and command: they
take customers by name and resolve them here, with ``select``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidSpecError
from .models import CustomerSpec, load_customer_spec
from .settings import get_settings

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


def load_catalog(directory: Path | None = None) -> list[CustomerSpec]:
    """Every customer in the catalog (default: ``settings.catalog_dir``), validated; raises on the first invalid
    file, naming it and the field."""
    directory = directory or get_settings().catalog_dir
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


def select(names: Iterable[str] | None, directory: Path | None = None) -> list[CustomerSpec]:
    """The catalog's customers with these names, in the order given (none given: every customer, in catalog
    order). Raises InvalidSpecError naming every name the catalog lacks and the catalog, before anything else
    happens: a typo is refused, not an empty run."""
    directory = directory or get_settings().catalog_dir
    specs = {spec.name: spec for spec in load_catalog(directory)}
    wanted = list(dict.fromkeys(names or []))
    if not wanted:
        return list(specs.values())
    unknown = [name for name in wanted if name not in specs]
    if unknown:
        raise InvalidSpecError(
            f"no customer named {', '.join(map(repr, unknown))} in the catalog {directory}"
            + "".join(_did_you_mean(name, specs) for name in unknown),
            customer=unknown[0] if len(unknown) == 1 else None,
            hint=f"add {directory / (unknown[0] + '.yaml')} (or point ONBOARDING_CATALOG_DIR at the catalog "
            "that has it)",
        )
    return [specs[name] for name in wanted]


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" ({name!r}: did you mean {close[0]!r}?)" if close else ""


def find_customer(name: str, directory: Path | None = None) -> CustomerSpec:
    """One customer by name (``select`` of one)."""
    return select([name], directory)[0]
