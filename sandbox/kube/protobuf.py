"""Decode the protobuf request bodies client-go sends (helm's release Secrets and Namespaces, and the
ConfigMaps ``kubectl create configmap`` sends).

A hand-written wire decoder, no generated classes. Envelope ``k8s\\x00`` + ``runtime.Unknown``
(1 typeMeta {1 apiVersion, 2 kind}, 2 raw). Field numbers are those of k8s.io/api core/v1 and
apimachinery meta/v1 ``generated.proto``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

MAGIC = b"k8s\x00"
Fields = list[tuple[int, int | bytes]]


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Fields:
    """(field number, value) pairs: ints for varint/fixed, bytes for length-delimited."""
    out: Fields = []
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            out.append((number, int.from_bytes(data[pos : pos + 8], "little")))
            pos += 8
        elif wire == 5:
            out.append((number, int.from_bytes(data[pos : pos + 4], "little")))
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _str(value: int | bytes) -> str:
    assert isinstance(value, bytes)
    return value.decode("utf-8")


def _map(entries: list[int | bytes], value: Callable[[bytes], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        assert isinstance(entry, bytes)
        kv = dict(fields(entry))
        out[_str(kv.get(1, b""))] = value(kv.get(2, b""))  # type: ignore[arg-type]
    return out


def _group(data: bytes) -> dict[int, list[int | bytes]]:
    grouped: dict[int, list[int | bytes]] = {}
    for number, value in fields(data):
        grouped.setdefault(number, []).append(value)
    return grouped


def _owner_reference(data: bytes) -> dict[str, Any]:
    f = _group(data)
    ref: dict[str, Any] = {
        "kind": _str(f[1][0]),
        "name": _str(f[3][0]),
        "uid": _str(f[4][0]),
        "apiVersion": _str(f[5][0]),
    }
    if 6 in f:
        ref["controller"] = bool(f[6][0])
    if 7 in f:
        ref["blockOwnerDeletion"] = bool(f[7][0])
    return ref


def object_meta(data: bytes) -> dict[str, Any]:
    f = _group(data)
    meta: dict[str, Any] = {}
    for number, name in (
        (1, "name"),
        (2, "generateName"),
        (3, "namespace"),
        (5, "uid"),
        (6, "resourceVersion"),
    ):
        if number in f and f[number][0]:
            meta[name] = _str(f[number][0])
    if 11 in f:
        meta["labels"] = _map(f[11], lambda b: b.decode())
    if 12 in f:
        meta["annotations"] = _map(f[12], lambda b: b.decode())
    if 13 in f:
        meta["ownerReferences"] = [_owner_reference(r) for r in f[13]]  # type: ignore[arg-type]
    if 14 in f:
        meta["finalizers"] = [_str(v) for v in f[14]]
    return meta


def _secret(raw: bytes) -> dict[str, Any]:
    f = _group(raw)
    obj: dict[str, Any] = {"metadata": object_meta(f[1][0]) if 1 in f else {}}  # type: ignore[arg-type]
    if 2 in f:
        obj["data"] = _map(f[2], lambda b: base64.b64encode(b).decode())
    if 3 in f:
        obj["type"] = _str(f[3][0])
    if 4 in f:
        obj["stringData"] = _map(f[4], lambda b: b.decode())
    if 5 in f:
        obj["immutable"] = bool(f[5][0])
    return obj


def _configmap(raw: bytes) -> dict[str, Any]:
    """ConfigMap: 1 metadata, 2 data (map<string,string>), 3 binaryData (map<string,bytes>), 4 immutable."""
    f = _group(raw)
    obj: dict[str, Any] = {"metadata": object_meta(f[1][0]) if 1 in f else {}}  # type: ignore[arg-type]
    if 2 in f:
        obj["data"] = _map(f[2], lambda b: b.decode())
    if 3 in f:
        obj["binaryData"] = _map(f[3], lambda b: base64.b64encode(b).decode())
    if 4 in f:
        obj["immutable"] = bool(f[4][0])
    return obj


def _namespace(raw: bytes) -> dict[str, Any]:
    f = _group(raw)
    obj: dict[str, Any] = {"metadata": object_meta(f[1][0]) if 1 in f else {}}  # type: ignore[arg-type]
    if 2 in f:
        spec = _group(f[2][0])  # type: ignore[arg-type]
        obj["spec"] = {"finalizers": [_str(v) for v in spec.get(1, [])]}
    return obj


DECODERS: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "Secret": _secret,
    "Namespace": _namespace,
    "ConfigMap": _configmap,
}


def decode(body: bytes) -> dict[str, Any]:
    """A JSON-shaped object from a ``application/vnd.kubernetes.protobuf`` body (a kind in ``DECODERS``)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic")
    unknown = _group(body[len(MAGIC) :])
    type_meta = _group(unknown[1][0]) if 1 in unknown else {}  # type: ignore[arg-type]
    api_version = _str(type_meta[1][0]) if 1 in type_meta else "v1"
    kind = _str(type_meta[2][0]) if 2 in type_meta else ""
    if kind not in DECODERS:
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported by the sandbox; send JSON")
    obj = DECODERS[kind](unknown.get(2, [b""])[0])  # type: ignore[arg-type]
    return {"apiVersion": api_version, "kind": kind, **obj}
