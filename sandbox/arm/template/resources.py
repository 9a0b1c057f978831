"""Where a template resource goes: its id from type and name (nested and extension types), and the action
writing it needs (ARM's preflight authorization)."""

from __future__ import annotations

from ..base import rg_id


def resource_id(
    subscription_id: str, resource_group: str, type_name: str, name: str, scope: str | None
) -> str:
    """``providers/<ns>/<t1>/<n1>/<t2>/<n2>`` for a (nested) type; an extension type
    ``<ns>/<t>/providers/<ext ns>/<ext t>`` named ``<n>/<ext ns>/<ext n>`` goes under ``<n>``."""
    base = scope.rstrip("/") if scope else rg_id(subscription_id, resource_group)
    type_parts, name_parts = type_name.split("/"), name.split("/")
    if "providers" in [p.lower() for p in type_parts]:
        cut = [p.lower() for p in type_parts].index("providers")
        inner_types, ext_types = type_parts[:cut], type_parts[cut + 1 :]
        inner_names = name_parts[: len(inner_types) - 1]
        parent = resource_id(
            subscription_id, resource_group, "/".join(inner_types), "/".join(inner_names), scope
        )
        rest = name_parts[len(inner_types) - 1 :]
        return resource_id(subscription_id, resource_group, "/".join(ext_types), "/".join(rest[1:]), parent)
    path = f"{base}/providers/{type_parts[0]}/{type_parts[1]}/{name_parts[0]}"
    for t, n in zip(type_parts[2:], name_parts[1:], strict=False):
        path += f"/{t}/{n}"
    return path


def write_action(resource_id_: str) -> str:
    """``<namespace>/<type>[/<child type>]/write`` for the innermost provider segment of an id."""
    segments = resource_id_.rsplit("/providers/", 1)[-1].split("/")
    return "/".join([segments[0], *segments[1::2]]) + "/write"


def segments_match(type_name: str, name: str) -> bool:
    type_parts = [p for p in type_name.split("/") if p.lower() != "providers"]
    if "providers" in [p.lower() for p in type_name.split("/")]:
        return len(name.split("/")) == len(type_parts) - 2 + 1
    return len(name.split("/")) == len(type_parts) - 1
