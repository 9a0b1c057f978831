from __future__ import annotations

import threading

from onboarding import redact as redact_module
from onboarding.errors import PermanentError
from onboarding.redact import redact, register_secret

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6InNhbmRib3gifQ.eyJhdWQiOiJodHRwczovL3N0b3JhZ2UifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"


def test_jwts_bearer_headers_and_secret_fields_are_masked() -> None:
    text = f"Authorization: Bearer {JWT} client_secret=abcdef123456 token: zyxwvu98765 {JWT}"
    cleaned = redact(text)
    assert "eyJ" not in cleaned and "abcdef123456" not in cleaned and "zyxwvu98765" not in cleaned


def test_registered_secrets_are_masked_anywhere() -> None:
    register_secret("kubeconfig-token-1234567")
    assert "kubeconfig-token-1234567" not in redact("server said kubeconfig-token-1234567 is wrong")


def test_errors_never_carry_tokens() -> None:
    error = PermanentError(f"call failed with {JWT}", customer="contoso", step="roles", hint="check roles")
    assert "eyJ" not in str(error)
    assert str(error).startswith("customer 'contoso' step roles:")


def test_redacting_while_another_thread_registers_secrets() -> None:
    """Fleet runs onboard customers in threads of one process: one registers its kubeconfig token while another
    redacts an error (this raised "Set changed size during iteration" in a chaos fleet run)."""
    stop = threading.Event()

    def register_many() -> None:
        for n in range(20_000):
            register_secret(f"thread-secret-{n:06d}")
        stop.set()

    writer = threading.Thread(target=register_many)
    writer.start()
    while not stop.is_set():
        assert "thread-secret-000000" not in redact("an error naming thread-secret-000000")
    writer.join()
    with redact_module._lock:
        redact_module._known_secrets.difference_update(f"thread-secret-{n:06d}" for n in range(20_000))
