"""Removes secrets from text before it reaches a log, an artifact, an event or an exception."""

from __future__ import annotations

import re
import threading

_PATTERNS = [
    # JWTs (access tokens, service account tokens)
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # bearer headers and token fields in JSON or query strings
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|token|password|secret)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\"'\s,&}]{4,}"
    ),
    # kubeconfig credential fields
    re.compile(r"(?i)((?:client-key-data|client-certificate-data|token)\s*:\s*)\S{8,}"),
]

_known_secrets: set[str] = set()
# Customers onboard in threads of one process (fleet runs): one registers a secret while another redacts.
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value (a client secret, a kubeconfig token) so it is masked wherever it appears."""
    if value and len(value) >= 6:
        with _lock:
            _known_secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        known = tuple(_known_secrets)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text) if pattern.groups else pattern.sub("***", text)
    return text
