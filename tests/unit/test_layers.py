"""The layers of ``onboarding/`` hold: no module imports from a layer above its own.

Every import counts: at module level, deferred inside a function, or under ``TYPE_CHECKING`` (a type a lower
layer names is a dependency on the higher one all the same). Imports within one layer are free.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "onboarding"

# Lowest first. A module belongs to the first entry that is its name or a package above it.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "base: errors, values, settings, models",
        [
            "errors",
            "redact",
            "logsafe",
            "settings",
            "models",
            "results",
            "cluster",
            "ids",
            "changes",
            "polling",
            "catalog",
            "overrides",
            "deadline",
            "retry",
        ],
    ),
    ("clients and cloud calls", ["azure", "kube", "helm"]),
    ("one customer's context, domain rules over what the clients read", ["context", "watch", "intake"]),
    ("steps", ["steps"]),
    ("orchestration and operations", ["pipeline", "report", "migration_report", "operations", "publish"]),
    ("entry points", ["cli", "__main__"]),
]


def _module_name(path: Path) -> str:
    parts = ["onboarding", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The index in ``LAYERS`` of an ``onboarding`` module (``onboarding`` itself and unknown names fail)."""
    parts = module.split(".")[1:]
    for index, (_, members) in enumerate(LAYERS):
        if parts and parts[0] in members:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative / "__init__.py").exists()


def imports_of(path: Path) -> list[tuple[str, int]]:
    module = _module_name(path)
    return imports_in(path.read_text(), module if path.name == "__init__.py" else module.rsplit(".", 1)[0])


def imports_in(source: str, package: str) -> list[tuple[str, int]]:
    """The ``onboarding`` modules ``source`` (of a module in ``package``) imports, each with its line
    (``from . import x`` names module x)."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            submodules = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
            found += [(name, node.lineno) for name in submodules or [target]]
    return [(name, line) for name, line in found if name.split(".")[0] == "onboarding"]


def upward_imports() -> list[str]:
    """Every import from a lower layer to a higher one, as ``module:line -> imported (layer -> layer)``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if module == "onboarding":
            continue
        for imported, line in imports_of(path):
            if imported != "onboarding" and layer_of(imported) > layer_of(module):
                found.append(
                    f"{module}:{line} -> {imported} "
                    f"({LAYERS[layer_of(module)][0]} -> {LAYERS[layer_of(imported)][0]})"
                )
    return found


def test_no_module_imports_from_a_higher_layer() -> None:
    assert upward_imports() == []


def test_every_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        if _module_name(path) != "onboarding":
            layer_of(_module_name(path))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from . import roles", ["onboarding.azure.roles"]),
        ("from ..steps import StepRecorder", ["onboarding.steps"]),
        ("def f():\n    from ..context import CustomerContext", ["onboarding.context"]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import onboarding.cli",
            ["onboarding.cli"],
        ),
    ],
)
def test_imports_are_read_at_every_depth(source: str, expected: list[str]) -> None:
    assert [name for name, _ in imports_in(source, "onboarding.azure")] == expected
