"""ADLS Gen2 List Paths over a flat blob listing: directory entries are synthesised from blob name prefixes.

Entries carry the fields the DFS endpoint returns (strings, as it sends them): ``name``, ``isDirectory``
("true", directories only), ``contentLength``, ``lastModified`` (RFC 1123), ``etag``, ``creationTime``
(Windows file time), ``expiryTime``, ``owner``, ``group``, ``permissions``. Order is depth-first by path
segment, as a hierarchical namespace lists them. Continuation tokens are opaque (base64 of the last name).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

DEFAULT_MAX_RESULTS = 5000
_FILETIME_EPOCH_OFFSET_S = 11644473600  # seconds between 1601-01-01 and 1970-01-01


@dataclass(frozen=True)
class BlobRecord:
    name: str
    size: int
    last_modified: dt.datetime
    etag: str
    created: dt.datetime


def _filetime(moment: dt.datetime) -> str:
    return str(int((moment.timestamp() + _FILETIME_EPOCH_OFFSET_S) * 10**7))


def _entry(
    name: str, *, is_dir: bool, size: int, modified: dt.datetime, created: dt.datetime, etag: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "contentLength": str(size),
        "lastModified": format_datetime(modified.astimezone(dt.UTC), usegmt=True),
        "etag": etag,
        "creationTime": _filetime(created),
        "expiryTime": "0",
        "owner": "$superuser",
        "group": "$superuser",
        "permissions": "rwxr-x---" if is_dir else "rw-r-----",
    }
    if is_dir:
        entry["isDirectory"] = "true"
    return entry


def _sort_key(name: str) -> tuple[str, ...]:
    return tuple(name.split("/"))


def list_paths(blobs: Iterable[BlobRecord], directory: str, recursive: bool) -> list[dict[str, Any]] | None:
    """The entries under ``directory`` ("" for the root); ``None`` when that directory does not exist."""
    base = directory.strip("/")
    prefix = f"{base}/" if base else ""
    files: list[dict[str, Any]] = []
    dirs: dict[str, BlobRecord] = {}
    found = False
    for blob in blobs:
        if not blob.name.startswith(prefix):
            continue
        found = True
        parts = blob.name[len(prefix) :].split("/")
        depth = len(parts) if recursive else 1
        for i in range(1, min(len(parts), depth + 1)):
            path = prefix + "/".join(parts[:i])
            newest = dirs.get(path)
            if newest is None or blob.last_modified > newest.last_modified:
                dirs[path] = blob
        if recursive or len(parts) == 1:
            files.append(
                _entry(
                    blob.name,
                    is_dir=False,
                    size=blob.size,
                    modified=blob.last_modified,
                    created=blob.created,
                    etag=blob.etag.strip('"'),
                )
            )
    if base and not found:
        return None
    entries = files + [
        _entry(
            path,
            is_dir=True,
            size=0,
            modified=b.last_modified,
            created=b.created,
            etag="0x" + format(int(b.last_modified.timestamp() * 10**7), "X"),
        )
        for path, b in dirs.items()
    ]
    entries.sort(key=lambda e: _sort_key(e["name"]))
    return entries


def page(
    entries: list[dict[str, Any]], continuation: str | None, max_results: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``entries`` after ``continuation`` and the token for the next page (``None`` at the end)."""
    if continuation:
        after = _sort_key(base64.urlsafe_b64decode(continuation.encode()).decode())
        entries = [e for e in entries if _sort_key(e["name"]) > after]
    if len(entries) <= max_results:
        return entries, None
    chunk = entries[:max_results]
    return chunk, base64.urlsafe_b64encode(chunk[-1]["name"].encode()).decode()
