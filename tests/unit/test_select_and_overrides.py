"""Every flow and command takes customers by name and resolves them with ``catalog.select``: unknown names are
refused, naming each and the catalog; a run's overrides are laid over the catalog entry and validated whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from onboarding.catalog import find_customer, load_catalog, select
from onboarding.errors import InvalidSpecError
from onboarding.models import PodIdentityMode
from onboarding.overrides import apply_overrides, deep_merge, describe
from onboarding.settings import REPOSITORY_CATALOG, get_settings


def test_no_names_is_every_customer_in_catalog_order() -> None:
    assert [s.name for s in select(None, REPOSITORY_CATALOG)] == [
        s.name for s in load_catalog(REPOSITORY_CATALOG)
    ]
    assert select([], REPOSITORY_CATALOG) == select(None, REPOSITORY_CATALOG)


def test_names_come_back_in_the_order_given_once_each() -> None:
    chosen = select(["northwind", "contoso", "northwind"], REPOSITORY_CATALOG)
    assert [s.name for s in chosen] == ["northwind", "contoso"]


def test_every_unknown_name_is_refused_with_the_catalog_and_a_suggestion() -> None:
    with pytest.raises(InvalidSpecError) as info:
        select(["contoso", "contsoo", "nobody"], REPOSITORY_CATALOG)
    message = str(info.value)
    assert f"no customer named 'contsoo', 'nobody' in the catalog {REPOSITORY_CATALOG}" in message
    assert "'contsoo': did you mean 'contoso'?" in message
    assert "ONBOARDING_CATALOG_DIR" in message


def test_the_catalog_is_onboarding_catalog_dir_read_when_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "solo.yaml").write_text(
        (REPOSITORY_CATALOG / "contoso.yaml").read_text().replace("contoso", "solo")
    )
    monkeypatch.setenv("ONBOARDING_CATALOG_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert [s.name for s in select(None)] == ["solo"]
        with pytest.raises(InvalidSpecError, match=f"no customer named 'contoso' in the catalog {tmp_path}"):
            find_customer("contoso")
    finally:
        get_settings.cache_clear()


def test_deep_merge_merges_mappings_and_replaces_the_rest() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert deep_merge(base, {"a": {"c": [3]}, "d": None}) == {"a": {"b": 1, "c": [3]}, "d": None}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}, "the catalog entry itself is not changed"


def test_overrides_apply_to_this_run_only() -> None:
    contoso = find_customer("contoso", REPOSITORY_CATALOG)
    changed = apply_overrides(
        contoso, {"pod_identity": {"mode": "workload-identity"}, "storage": {"directory": "folder2"}}
    )
    assert changed.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY
    assert changed.pod_identity.namespace == contoso.pod_identity.namespace
    assert changed.storage.directory == "folder2" and changed.storage.file == contoso.storage.file
    assert find_customer("contoso", REPOSITORY_CATALOG) == contoso
    assert apply_overrides(contoso, None) is contoso and apply_overrides(contoso, {}) is contoso


def test_null_puts_a_field_back_to_its_default() -> None:
    fabrikam = find_customer("fabrikam", REPOSITORY_CATALOG)
    assert apply_overrides(fabrikam, {"schedule": None}).schedule is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tenant_id": "not-a-guid"}, "customer.tenant_id"),
        ({"pod_identity": {"mode": "kubelet-magic"}}, "customer.pod_identity.mode"),
        ({"chart": {"version": "4.1.18 --set x=1"}}, "customer.chart.version"),
        ({"tenant": "7c1f4f7e-3a4b-4c55-9a1e-0c2d7f1a1001"}, "customer.tenant"),
        ({"managed_application": {"parameters": None}}, "customer.managed_application.parameters"),
        ({"name": "fabrikam"}, "customer.name"),
    ],
    ids=["bad-guid", "bad-enum", "smuggled-option", "unknown-field", "required-unset", "rename"],
)
def test_a_bad_override_names_the_field_and_the_customer(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        apply_overrides(find_customer("contoso", REPOSITORY_CATALOG), overrides)
    assert f"field {field}" in str(info.value)
    assert str(info.value).startswith("customer 'contoso': ")


def test_overrides_are_described_leaf_by_leaf() -> None:
    text = describe({"pod_identity": {"mode": "workload-identity"}, "identities": [], "schedule": None})
    assert text == 'pod_identity.mode="workload-identity", identities=[], schedule=null'
