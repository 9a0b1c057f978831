"""The package zip: the layout a service catalog definition or Marketplace plan takes, and the same bytes (and hash)
from unchanged templates whatever their timestamps, modes or folder."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from onboarding.errors import InvalidSpecError
from onboarding.publish import TEMPLATES, build_package, write_package


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
