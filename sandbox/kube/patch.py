"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a small strategic merge patch.

Strategic merge is merge patch plus: lists of objects that all carry a ``name`` (containers, env, volumes,
volumeMounts, ports with names) merge element by element, ``$patch: delete`` removes an element,
``$setElementOrder/<field>`` orders the result, other ``$`` directives are dropped. Server-side apply is
treated as a strategic merge of the applied object (no field ownership).
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def _resolve(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _resolve(doc, parts[:-1]), parts[-1]
    if isinstance(parent, list):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent, last = _resolve(doc, parts[:-1]), parts[-1]
    if isinstance(parent, list):
        return parent.pop(int(last))
    return parent.pop(last)


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    doc = copy.deepcopy(target)
    try:
        for op in ops:
            kind, parts = op["op"], _pointer(op["path"])
            if kind == "add":
                doc = _add(doc, parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                _remove(doc, parts)
            elif kind == "replace":
                if not parts:
                    doc = copy.deepcopy(op["value"])
                else:
                    parent = _resolve(doc, parts[:-1])
                    key: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
                    if isinstance(parent, dict) and key not in parent:
                        raise KeyError(key)
                    parent[key] = copy.deepcopy(op["value"])
            elif kind in ("move", "copy"):
                source = _pointer(op["from"])
                value = _remove(doc, source) if kind == "move" else copy.deepcopy(_resolve(doc, source))
                doc = _add(doc, parts, value)
            elif kind == "test":
                if _resolve(doc, parts) != op["value"]:
                    raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
            else:
                raise ApiError(400, "BadRequest", f"unknown json patch op {kind!r}")
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise ApiError(422, "Invalid", f"the json patch could not be applied: {exc!r}") from exc
    return doc


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "name" in v for v in value)


def _merge_named(original: list[dict[str, Any]], patch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = [copy.deepcopy(o) for o in original]
    for item in patch:
        index = next((i for i, o in enumerate(result) if o.get("name") == item["name"]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if not k.startswith("$")}
    result = dict(target) if isinstance(target, dict) else {}
    orders = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
        elif _named_list(v):
            result[k] = _merge_named(result.get(k) or [], v)
        elif isinstance(v, dict):
            result[k] = strategic_merge(result.get(k), v)
        else:
            result[k] = copy.deepcopy(v)
    for field, order in orders.items():
        if _named_list(result.get(field)):
            rank = {o.get("name"): i for i, o in enumerate(order) if isinstance(o, dict)}
            result[field] = sorted(result[field], key=lambda o: rank.get(o["name"], len(rank)))
    return result
