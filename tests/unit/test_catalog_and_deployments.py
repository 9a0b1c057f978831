"""The catalog validates and prefect.yaml is generated from it (adding a customer is adding a YAML file); a
customer's deployment carries its name, not its spec (the run reads the worker's catalog)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployments.build import PREFECT_YAML, render
from onboarding.catalog import load_catalog, read_spec_file
from onboarding.errors import InvalidSpecError
from onboarding.settings import REPOSITORY_CATALOG, get_settings

CONTOSO = REPOSITORY_CATALOG / "contoso.yaml"


def test_catalog_has_three_valid_customers() -> None:
    names = [spec.name for spec in load_catalog()]
    assert len(names) >= 3
    assert len(set(names)) == len(names)


def test_prefect_yaml_is_generated_from_the_catalog() -> None:
    assert PREFECT_YAML.read_text() == render(), "run `python -m deployments.build`"
    document = yaml.safe_load(PREFECT_YAML.read_text())
    deployments = {d["name"]: d for d in document["deployments"]}
    for spec in load_catalog():
        deployment = deployments[spec.name]
        assert deployment["entrypoint"] == "flows/onboard_customer.py:onboard_customer"
        assert deployment["parameters"] == {"customer": spec.name, "dry_run": False}


def test_no_deployment_freezes_a_spec_into_its_parameters() -> None:
    document = yaml.safe_load(PREFECT_YAML.read_text())
    for deployment in document["deployments"]:
        for name, value in deployment.get("parameters", {}).items():
            assert not isinstance(value, dict | list), (deployment["name"], name)


def test_build_reads_the_catalog_of_onboarding_catalog_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "solo.yaml").write_text(CONTOSO.read_text().replace("name: contoso\n", "name: solo\n"))
    monkeypatch.setenv("ONBOARDING_CATALOG_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        document = yaml.safe_load(render())
    finally:
        get_settings.cache_clear()
    customers = [d["name"] for d in document["deployments"] if "customer" in d.get("parameters", {})]
    assert customers == ["solo"]


def test_a_new_yaml_file_is_a_new_deployment(tmp_path: Path) -> None:
    source = (
        Path(load_catalog.__code__.co_filename).parent.parent / "deployments" / "customers" / "contoso.yaml"
    )
    data = yaml.safe_load(source.read_text())
    data["name"] = "adventureworks"
    (tmp_path / "adventureworks.yaml").write_text(yaml.safe_dump(data))
    document = yaml.safe_load(render(tmp_path))
    assert next(d["name"] for d in document["deployments"]) == "adventureworks"


def test_invalid_file_names_file_customer_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: broken\ntenant_id: not-a-guid\n")
    with pytest.raises(InvalidSpecError) as info:
        load_catalog(tmp_path)
    message = str(info.value)
    assert "broken" in message and "bad.yaml" in message and "tenant_id" in message


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    source = (
        Path(load_catalog.__code__.co_filename).parent.parent / "deployments" / "customers" / "contoso.yaml"
    )
    (tmp_path / "a.yaml").write_text(source.read_text())
    (tmp_path / "b.yaml").write_text(source.read_text())
    with pytest.raises(InvalidSpecError, match="unique"):
        load_catalog(tmp_path)


def test_a_key_written_twice_is_refused_naming_file_key_and_lines(tmp_path: Path) -> None:
    """PyYAML keeps the last of two equal keys silently: the file would mean something its reader did not see."""
    lines = CONTOSO.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  name: contoso-ama"))
    lines.insert(at + 1, "  name: someone-elses-ama")
    (tmp_path / "contoso.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidSpecError) as info:
        load_catalog(tmp_path)
    assert str(tmp_path / "contoso.yaml") in str(info.value)
    assert f"key 'name' is written twice, on lines {at + 1} and {at + 2}" in str(info.value)


def test_keys_merged_in_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merged.yaml"
    path.write_text("base: &base {aks_name: a, node_count: 2}\nparameters:\n  <<: *base\n  node_count: 3\n")
    assert read_spec_file(path)["parameters"] == {"aks_name": "a", "node_count": 3}
