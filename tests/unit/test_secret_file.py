"""The publisher's client secret can come from a file (ONBOARDING_CLIENT_SECRET_FILE) instead of the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from onboarding.azure.credentials import publisher_credential
from onboarding.errors import PermanentError
from onboarding.redact import redact
from onboarding.settings import Settings


def test_secret_file_is_read_and_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "file-held-client-secret-4242"
    path = tmp_path / "secret"
    path.write_text(secret + "\n")
    monkeypatch.setenv("AZURE_TENANT_ID", "7c1f4f7e-3a4b-4c55-9a1e-0c2d7f1a1001")
    monkeypatch.setenv("AZURE_CLIENT_ID", "5a9d3c2e-8f1b-4d6a-b3c4-2e1f0a9b1001")
    monkeypatch.delenv("AZURE_CLIENT_SECRET", raising=False)
    credential = publisher_credential(Settings(client_secret_file=path))
    assert type(credential).__name__ == "ClientSecretCredential"
    assert secret not in redact(f"refused {secret}")


def test_unreadable_secret_file_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="ONBOARDING_CLIENT_SECRET_FILE"):
        publisher_credential(Settings(client_secret_file=tmp_path / "missing"))
