"""One cluster's objects in memory: versioned writes, server-set metadata, watch history, garbage collection.

Objects are stored per (group, plural) and (namespace, name). Every write takes the next resourceVersion
(one counter per cluster) and appends one event to a bounded history that watches replay from; a watch
from a resourceVersion older than the history gets 410 Expired. Stored objects are replaced, never changed
in place, so events can be shared; callers get deep copies. A ``dry_run`` write validates and returns what
it would store (a create without a resourceVersion, an update keeping the current one) and changes nothing:
no resourceVersion, no event, no CRD registration, no garbage collection.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import defaults
from .errors import ApiError, already_exists, conflict, not_found
from .resources import CRD, Registry, ResourceType, builtin
from .selectors import Matcher

HISTORY = 20_000
NAMESPACES = builtin("Namespace")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    rtype: ResourceType
    obj: dict[str, Any]


Listener = Callable[[Event], None]
# A mutating admission webhook: changes a new object in place (or raises ApiError to refuse it).
Admission = Callable[[ResourceType, dict[str, Any]], None]
ObjKey = tuple[str, str]  # (namespace or "", name)


class Store:
    def __init__(self) -> None:
        self.types = Registry()
        self._cond = threading.Condition(threading.RLock())
        self._objects: dict[tuple[str, str], dict[ObjKey, dict[str, Any]]] = {}
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._listeners: list[Listener] = []
        # Mutating admission on CREATE (``Admission``), run before the store lock is taken: they may read the store
        # and the world.
        self.admission: list[Admission] = []
        self.closed = False
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(NAMESPACES, {"metadata": {"name": ns}})

    # --- plumbing ---
    def subscribe(self, listener: Listener) -> None:
        """``listener`` is called under the store lock after every write: keep it quick (enqueue)."""
        self._listeners.append(listener)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _bucket(self, rtype: ResourceType) -> dict[ObjKey, dict[str, Any]]:
        return self._objects.setdefault(rtype.group_resource, {})

    def _record(self, kind: str, rtype: ResourceType, obj: dict[str, Any]) -> None:
        event = Event(self._rv, kind, rtype, obj)
        self._history.append(event)
        for listener in self._listeners:
            listener(event)
        self._cond.notify_all()

    def _next_rv(self, obj: dict[str, Any]) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def _type_for(self, rtype: ResourceType) -> ResourceType:
        """The type objects of this bucket are rendered with (its preferred version)."""
        return next((t for t in self.types.all() if t.group_resource == rtype.group_resource), rtype)

    # --- reads ---
    def find(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        with self._cond:
            obj = self._bucket(rtype).get((namespace if rtype.namespaced else "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def get(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.find(rtype, namespace, name)
        if obj is None:
            raise not_found(rtype.plural, name, rtype.group)
        return obj

    def list(
        self, rtype: ResourceType, namespace: str | None = None, *matchers: Matcher
    ) -> tuple[list[dict[str, Any]], int]:
        with self._cond:
            items = [
                o
                for (ns, _), o in sorted(self._bucket(rtype).items())
                if (not namespace or not rtype.namespaced or ns == namespace) and all(m(o) for m in matchers)
            ]
            return copy.deepcopy(items), self._rv

    # --- writes ---
    def create(
        self, rtype: ResourceType, obj: dict[str, Any], namespace: str = "", *, dry_run: bool = False
    ) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        namespace = namespace or meta.get("namespace") or ("default" if rtype.namespaced else "")
        if rtype.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{rtype.kind} is invalid: metadata.name: Required value")
        allowed = set(string.ascii_lowercase + string.digits + "-.:")
        if not set(name) <= allowed:
            raise ApiError(422, "Invalid", f'{rtype.kind} "{name}" is invalid: metadata.name: Invalid value')
        for admit in self.admission:
            admit(rtype, obj)
        with self._cond:
            if rtype.namespaced and ("", namespace) not in self._bucket(NAMESPACES):
                raise not_found("namespaces", namespace)
            bucket = self._bucket(rtype)
            if (meta.get("namespace", ""), name) in bucket:
                raise already_exists(rtype.plural, name, rtype.group)
            shown = self._type_for(rtype)
            obj["apiVersion"], obj["kind"] = shown.api_version, shown.kind
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            meta.pop("deletionTimestamp", None)
            defaults.apply(rtype, obj)
            if dry_run:
                meta.pop("resourceVersion", None)
                return obj
            self._next_rv(obj)
            bucket[(meta.get("namespace", ""), name)] = obj
            if rtype.group_resource == CRD.group_resource:
                self.types.register_crd(obj)
            self._record("ADDED", rtype, obj)
            return copy.deepcopy(obj)

    def update(
        self, rtype: ResourceType, obj: dict[str, Any], *, status_only: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        """Replace an object (PUT). With ``status_only`` only ``status`` changes (the status subresource);
        otherwise types with a status subresource keep their status."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace", "") if rtype.namespaced else ""
        with self._cond:
            bucket = self._bucket(rtype)
            current = bucket.get((namespace, meta.get("name", "")))
            if current is None:
                raise not_found(rtype.plural, meta.get("name", ""), rtype.group)
            sent_rv = meta.get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise conflict(rtype.plural, meta["name"], rtype.group)
            if status_only:
                new = copy.deepcopy(current)
                new["status"] = obj.get("status", {})
            else:
                new = obj
                for field in ("uid", "creationTimestamp", "generation", "namespace"):
                    if field in current["metadata"]:
                        new["metadata"][field] = current["metadata"][field]
                if rtype.has_status and "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
                defaults.apply(rtype, new)
                if _spec_of(new) != _spec_of(current):
                    new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            if _same(new, current):
                return copy.deepcopy(current)
            if dry_run:
                new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                return new
            self._next_rv(new)
            bucket[(namespace, meta["name"])] = new
            if rtype.group_resource == CRD.group_resource:
                self.types.register_crd(new)
            self._record("MODIFIED", rtype, new)
            return copy.deepcopy(new)

    def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        propagation: str = "Background",
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        with self._cond:
            key = (namespace if rtype.namespaced else "", name)
            bucket = self._bucket(rtype)
            obj = bucket.get(key) if dry_run else bucket.pop(key, None)
            if obj is None:
                raise not_found(rtype.plural, name, rtype.group)
            if dry_run:
                return copy.deepcopy(obj)
            gone = copy.deepcopy(obj)
            self._rv += 1
            gone["metadata"]["resourceVersion"] = str(self._rv)
            gone["metadata"]["deletionTimestamp"] = now_rfc3339()
            self._record("DELETED", rtype, gone)
            if rtype.group_resource == CRD.group_resource:
                self._drop_crd(obj)
            elif rtype.group_resource == NAMESPACES.group_resource:
                self._drop_namespace(name)
            self._collect_dependents(obj["metadata"]["uid"], propagation)
            return copy.deepcopy(gone)

    def _all_objects(self) -> Iterator[tuple[ResourceType, dict[str, Any]]]:
        by_gr = {t.group_resource: t for t in self.types.all()}
        for gr, bucket in list(self._objects.items()):
            if gr in by_gr:
                for obj in list(bucket.values()):
                    yield by_gr[gr], obj

    def _collect_dependents(self, owner_uid: str, propagation: str) -> None:
        for rtype, obj in self._all_objects():
            refs = obj["metadata"].get("ownerReferences") or []
            if not any(r.get("uid") == owner_uid for r in refs):
                continue
            if propagation == "Orphan":
                orphan = copy.deepcopy(obj)
                orphan["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                self.update(rtype, orphan)
            else:
                self.delete(rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], propagation)

    def _drop_namespace(self, namespace: str) -> None:
        for rtype, obj in self._all_objects():
            if rtype.namespaced and obj["metadata"].get("namespace") == namespace:
                self.delete(rtype, namespace, obj["metadata"]["name"])

    def _drop_crd(self, crd: dict[str, Any]) -> None:
        gone_types = {
            t.group_resource
            for t in self.types.all()
            if t.kind == crd["spec"]["names"]["kind"] and t.group == crd["spec"]["group"]
        }
        for rtype, obj in self._all_objects():
            if rtype.group_resource in gone_types:
                self.delete(rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        self.types.unregister_crd(crd)

    def mutate(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any]],
        *,
        status_only: bool = False,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Read-modify-write under the store lock (PATCH). ``change`` gets the current object or None
        and returns the new one; None means create. Returns (object, created)."""
        with self._cond:
            current = self.find(rtype, namespace, name)
            new = change(current)
            if current is None:
                return self.create(rtype, new, namespace, dry_run=dry_run), True
            return self.update(rtype, new, status_only=status_only, dry_run=dry_run), False

    # --- watch ---
    def events(self, since_rv: int, timeout_s: float) -> Iterator[Event]:
        """Every event after ``since_rv`` until ``timeout_s`` passes or the store closes.

        Raises ``ApiError(410)`` at once when ``since_rv`` is older than the retained history."""
        with self._cond:
            if self._history and since_rv < self._history[0].rv - 1:
                raise ApiError(
                    410, "Expired", f"too old resource version: {since_rv} ({self._history[0].rv - 1})"
                )
        return self._follow(since_rv, time.monotonic() + timeout_s)

    def _follow(self, last: int, deadline: float) -> Iterator[Event]:
        while True:
            with self._cond:
                first = self._history[0].rv if self._history else self._rv + 1
                start = max(0, last + 1 - first)
                pending = [self._history[i] for i in range(start, len(self._history))]
                if not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.closed:
                        return
                    self._cond.wait(min(remaining, 1.0))
                    continue
            for event in pending:
                last = event.rv
                yield event


def _spec_of(obj: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in obj.items() if k not in ("metadata", "status")}, sort_keys=True)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = ("resourceVersion", "managedFields")

    def norm(o: dict[str, Any]) -> str:
        meta = {k: v for k, v in o.get("metadata", {}).items() if k not in strip}
        return json.dumps({**o, "metadata": meta}, sort_keys=True)

    return norm(a) == norm(b)
