"""The package zip: the layout a service catalog definition or Marketplace plan takes, and the same bytes (and hash)
from unchanged templates whatever their timestamps, modes or folder."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from onboarding.errors import InvalidSpecError
from onboarding.publish import TEMPLATES, build_package, desired_properties, differences, write_package
from onboarding.settings import Settings


def test_the_zip_has_the_templates_at_its_root_in_a_fixed_order() -> None:
    package = build_package()
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        names = archive.namelist()
        assert names == sorted(p.name for p in TEMPLATES.iterdir() if p.is_file())
        assert {"mainTemplate.json", "createUiDefinition.json"} <= set(names)
        assert archive.read("mainTemplate.json") == (TEMPLATES / "mainTemplate.json").read_bytes()
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert package.sha256 == hashlib.sha256(package.data).hexdigest()
    assert package.content_version == package.main_template["contentVersion"]


def test_unchanged_templates_give_the_same_bytes_wherever_and_whenever(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(TEMPLATES, copy)
    for path in copy.iterdir():
        os.utime(path, (1_900_000_000, 1_900_000_000))
        path.chmod(0o600)
    assert build_package(copy).data == build_package().data
    (copy / "viewDefinition.json").write_text((copy / "viewDefinition.json").read_text() + " ")
    assert build_package(copy).sha256 != build_package().sha256


def test_write_package_writes_only_new_bytes(tmp_path: Path) -> None:
    package = build_package()
    target = tmp_path / "dist" / "app.zip"
    assert write_package(package, target, dry_run=True) and not target.exists()
    assert write_package(package, target, dry_run=False) and target.read_bytes() == package.data
    assert not write_package(package, target, dry_run=False)


def test_a_package_without_its_ui_definition_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mainTemplate.json").write_text("{}")
    with pytest.raises(InvalidSpecError, match=r"lacks createUiDefinition\.json"):
        build_package(tmp_path)


def _desired() -> dict[str, Any]:
    package = build_package()
    settings = Settings(publisher_principal_id="AAAA-1111", definition_version="2.0.0")
    return {
        "tags": {"version": "2.0.0", "packageSha256": package.sha256},
        "properties": desired_properties(package, settings, "https://r.example/notifications?sig=x"),
    }


def test_what_arm_answers_differently_but_equivalently_is_no_difference() -> None:
    desired = _desired()
    props = {
        **desired["properties"],
        "lockLevel": "readonly",
        "authorizations": [
            {
                "principalId": "aaaa-1111",
                "roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/"
                "8E3AF657-A8FF-443C-A75C-2FE8C4BCB635",
            }
        ],
        "provisioningState": "Succeeded",
    }
    del props["createUiDefinition"]  # an inline package ARM keeps to itself: the hash tag speaks for it
    current = {"tags": {**desired["tags"], "owner": "team"}, "properties": props}
    assert differences(desired, current) == []
    assert differences(desired, None) == ["definition"]
    stale = {**current, "tags": {**current["tags"], "packageSha256": "0" * 64}}
    moved = {**current, "properties": {**props, "notificationPolicy": None}}
    assert differences(desired, stale) == ["tags.packageSha256"]
    assert differences(desired, moved) == ["notificationPolicy"]
