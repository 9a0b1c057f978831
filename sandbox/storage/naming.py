"""How sandbox storage accounts map onto Azurite's single account.

Azurite serves one account (``devstoreaccount1``); every sandbox storage account shares it. The filesystem
``fs`` of account ``acct`` is the Azurite container ``acct-fs``. Account names are 3-24 lower-case letters and
digits (no hyphen), so the first hyphen always separates the account from the filesystem and no two
(account, filesystem) pairs share a container. When ``acct-fs`` would exceed the 63 characters a container name
may have, the filesystem part becomes ``h`` + the first hex digits of its SHA-256 (still deterministic).
"""

from __future__ import annotations

import hashlib

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft; not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
MAX_CONTAINER_NAME = 63


def container_name(account: str, filesystem: str) -> str:
    """The Azurite container that holds filesystem ``filesystem`` of sandbox account ``account``."""
    account, filesystem = account.lower(), filesystem.lower()
    name = f"{account}-{filesystem}"
    if len(name) <= MAX_CONTAINER_NAME:
        return name
    digest = hashlib.sha256(filesystem.encode()).hexdigest()
    return f"{account}-h{digest}"[:MAX_CONTAINER_NAME]
