"""ARM resource ids as one value type over ``azure.mgmt.core.tools``.

ARM compares ids without regard to case (``resourcegroups`` and ``resourceGroups`` name one group) or a trailing
slash, so ``ResourceId`` does too; ``str()`` gives back the id as it was spelt, so nothing serialised changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from azure.mgmt.core.tools import is_valid_resource_id, parse_resource_id, resource_id

from .errors import PermanentError


@dataclass(frozen=True, eq=False)
class ResourceId:
    """One ARM resource id (a subscription, a resource group, a resource or a child resource), as spelt."""

    text: str

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceId) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def key(self) -> str:
        """The id as ARM compares it: lower case, no trailing slash."""
        return self.text.rstrip("/").lower()

    @cached_property
    def _parts(self) -> Mapping[str, Any]:
        return parse_resource_id(self.text.rstrip("/"))

    @property
    def valid(self) -> bool:
        return bool(is_valid_resource_id(self.text.rstrip("/")))

    @property
    def subscription(self) -> str | None:
        return self._parts.get("subscription")

    @property
    def resource_group(self) -> str | None:
        return self._parts.get("resource_group")

    @property
    def name(self) -> str:
        """The name of what the id names: the (child) resource's, else the group's, else the subscription's."""
        parts = self._parts
        return str(
            parts.get("resource_name")
            or parts.get("resource_group")
            or parts.get("subscription")
            or parts.get("name")
            or ""
        )

    @property
    def resource_type(self) -> str | None:
        """``Namespace/type[/childType...]``, e.g. ``Microsoft.ManagedIdentity/userAssignedIdentities``; None for a
        subscription or resource group."""
        parts = self._parts
        if not parts.get("namespace"):
            return None
        children = [parts[f"child_type_{n}"] for n in range(1, int(parts.get("last_child_num") or 0) + 1)]
        return "/".join([parts["namespace"], parts["type"], *children])

    @property
    def parent(self) -> ResourceId | None:
        """What contains it: a child's resource, a resource's group (or subscription), a group's subscription."""
        parts = self._parts
        if not self.valid:
            return None
        last = int(parts.get("last_child_num") or 0)
        if last:
            children = [f"child_{kind}_{n}" for n in range(1, last) for kind in ("type", "name")]
            keep = ["subscription", "resource_group", "namespace", "type", "name", *children]
        elif parts.get("namespace"):
            keep = ["subscription", "resource_group"]
        elif parts.get("resource_group"):
            keep = ["subscription"]
        else:
            return None
        return ResourceId(resource_id(**{k: parts[k] for k in keep if k in parts}))

    def require(self, resource_type: str) -> ResourceId:
        """Itself when it names a resource of ``resource_type`` (any case); PermanentError otherwise."""
        if not self.valid or (self.resource_type or "").lower() != resource_type.lower():
            raise PermanentError(f"not a {resource_type} resource id: {self.text}")
        return self
