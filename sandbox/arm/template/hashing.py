"""``uniqueString()`` and ``guid()`` with Azure's exact results (resource names depend on them).

uniqueString: the arguments joined with ``-``, UTF-8, hashed with ARM's 64-bit MurmurHash variant (two 32-bit
lanes, seed 0), the 64-bit result written as 13 base-32 characters (``a-z2-7``) from the top bits down.
guid: a name-based UUID (RFC 4122 section 4.3, SHA-1, version 5) of the arguments joined with ``-`` (UTF-8) in the
namespace ``11fb06fb-712d-4ddd-98c7-e71bbd588830``. Sources and verified vectors: docs/fidelity/expressions.md.
"""

from __future__ import annotations

import uuid

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_C1, _C2 = 0x239B961B, 0xAB0E9789
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")


def unique_string(*values: str) -> str:
    number = murmur_hash64("-".join(values).encode("utf-8"))
    out = []
    for _ in range(13):
        out.append(_BASE32[number >> 59])
        number = (number << 5) & _M64
    return "".join(out)


def deterministic_guid(*values: str) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, "-".join(values)))


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _mix(h: int) -> int:
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & _M32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def murmur_hash64(data: bytes, seed: int = 0) -> int:
    """ARM's MurmurHash64: 8-byte blocks fed to two 32-bit lanes, then MurmurHash3's finalizer on each."""
    length = len(data)
    h1 = h2 = seed
    i = 0
    while i + 8 <= length:
        k1 = int.from_bytes(data[i : i + 4], "little")
        k2 = int.from_bytes(data[i + 4 : i + 8], "little")
        h1 ^= (_rotl((k1 * _C1) & _M32, 15) * _C2) & _M32
        h1 = ((_rotl(h1, 19) + h2) * 5 + 0x561CCD1B) & _M32
        h2 ^= (_rotl((k2 * _C2) & _M32, 17) * _C1) & _M32
        h2 = ((_rotl(h2, 13) + h1) * 5 + 0x0BCAA747) & _M32
        i += 8
    rest = length - i
    if rest > 0:
        k1 = int.from_bytes(data[i : i + min(rest, 4)], "little")
        h1 ^= (_rotl((k1 * _C1) & _M32, 15) * _C2) & _M32
        if rest > 4:
            k2 = int.from_bytes(data[i + 4 : length], "little")
            h2 ^= (_rotl((k2 * _C2) & _M32, 17) * _C1) & _M32
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    h1, h2 = _mix(h1), _mix(h2)
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    return (h2 << 32) | h1
