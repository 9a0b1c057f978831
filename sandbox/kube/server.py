"""The Kubernetes REST API of one cluster over the store: discovery, CRUD, patch, watch, pod logs, 401s.

Paths: ``/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]`` and the same under
``/apis/{group}/{version}``. Every request needs ``Authorization: Bearer <user or admin token>``.
Responses are JSON (clients that ask for protobuf accept JSON); a GET or list that asks for
``as=Table;v=v1;g=meta.k8s.io`` gets a server-side Table (``table.py``), as ``kubectl get`` prints it. Writes honour
server-side dry run (``?dryRun=All``, or ``dryRun: [All]`` in a DELETE's DeleteOptions body): validated, answered,
not stored. Pod ``log`` streams with ``follow=true``; pod ``attach`` is a WebSocket (``attach.py``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from ..httpd import Request, Response, json_response
from . import discovery, patch, protobuf, table
from .errors import ApiError
from .resources import ResourceType, builtin
from .selectors import Matcher, SelectorError, field_matcher, label_matcher
from .store import Store

LogReader = Callable[[str, str, int | None], str | None]
LogFollower = Callable[[str, str, int | None], Iterator[bytes] | None]
Attacher = Callable[["Request", str, str], Response]
CRDS = builtin("CustomResourceDefinition")
WATCH_DEFAULT_TIMEOUT_S = 1800.0
DRY_RUN_ALL = "All"
_OPTIONS_KIND = {
    "POST": "CreateOptions",
    "PUT": "UpdateOptions",
    "PATCH": "PatchOptions",
    "DELETE": "DeleteOptions",
}


@dataclass
class Target:
    rtype: ResourceType
    namespace: str
    name: str | None
    sub: str | None


def _render(obj: dict[str, Any], rtype: ResourceType) -> dict[str, Any]:
    return {**obj, "apiVersion": rtype.api_version}


def _success(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": obj["metadata"]["name"],
            "group": rtype.group,
            "kind": rtype.plural,
            "uid": obj["metadata"]["uid"],
        },
    }


class KubeApiApp:
    def __init__(
        self,
        store: Store,
        tokens: set[str],
        read_log: LogReader,
        follow_log: LogFollower | None = None,
        attach: Attacher | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.read_log = read_log
        self.follow_log = follow_log
        self.attach = attach

    def __call__(self, request: Request) -> Response:
        try:
            auth = request.header("authorization") or ""
            if not auth.startswith("Bearer ") or auth[7:].strip() not in self.tokens:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            return self._route(request)
        except ApiError as exc:
            return json_response(exc.status(), exc.code)
        except SelectorError as exc:
            return json_response(ApiError(400, "BadRequest", str(exc)).status(), 400)

    # --- routing ---
    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        registry = self.store.types
        if path == "/version":
            return json_response(discovery.VERSION)
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(body="ok")
        if path == "/api":
            return json_response(discovery.api_versions(req.header("host", "127.0.0.1") or "127.0.0.1"))
        if path == "/apis":
            return json_response(discovery.api_group_list(registry))
        if path == "/openapi/v2":
            return Response(
                body=b"", content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
            )
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            return self._found(discovery.api_group(registry, parts[1]))
        if parts == ["api", "v1"]:
            return self._found(discovery.resource_list(registry, "", "v1"))
        if parts[0] == "apis" and len(parts) == 3:
            return self._found(discovery.resource_list(registry, parts[1], parts[2]))
        target = self._target(parts)
        if target is None:
            return self._found(None)
        return self._dispatch(req, target)

    @staticmethod
    def _found(body: dict[str, Any] | None) -> Response:
        if body is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return json_response(body)

    def _target(self, parts: list[str]) -> Target | None:
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        lookup = self.store.types.lookup
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = lookup(group, version, rest[0])
        if rtype is None or len(rest) > 3:
            return None
        return Target(
            rtype, namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
        )

    def _dispatch(self, req: Request, t: Target) -> Response:
        if t.sub is not None and t.sub not in t.rtype.subresources:
            return self._found(None)
        method = req.method
        dry_run = self._dry_run(req)
        if t.name is None:
            if method == "GET":
                return (
                    self._watch(req, t)
                    if (req.q("watch") or "").lower() in ("true", "1")
                    else self._list(req, t)
                )
            if method == "POST":
                created = self.store.create(t.rtype, self._body(req), t.namespace, dry_run=dry_run)
                return json_response(_render(created, t.rtype), 201)
            if method == "DELETE":
                return self._delete_collection(req, t, dry_run)
        elif t.sub == "attach" and method in ("GET", "POST") and self.attach is not None:
            self.store.get(t.rtype, t.namespace, t.name)
            return self.attach(req, t.namespace, t.name)
        elif method == "GET":
            if t.sub == "log":
                return self._log(req, t)
            obj = _render(self.store.get(t.rtype, t.namespace, t.name), t.rtype)
            if table.wants_table(req.header("accept")):
                return json_response(self._table(req, t, [obj]))
            return json_response(obj)
        elif method == "PUT":
            return self._put(req, t, dry_run)
        elif method == "PATCH":
            return self._patch(req, t, dry_run)
        elif method == "DELETE":
            propagation = self._propagation(req, t.rtype)
            gone = self.store.delete(t.rtype, t.namespace, t.name, propagation, dry_run=dry_run)
            return json_response(_success(t.rtype, gone))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on this path")

    # --- bodies ---
    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        content_type = (req.header("content-type") or "application/json").split(";")[0].strip()
        try:
            if content_type == "application/vnd.kubernetes.protobuf":
                return protobuf.decode(req.body)
            if content_type in ("application/yaml", "application/apply-patch+yaml"):
                body = yaml.safe_load(req.body.decode() or "{}")
            else:
                body = json.loads(req.body.decode() or "{}")
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"the request body could not be decoded: {exc}") from exc
        if not isinstance(body, dict | list):
            raise ApiError(400, "BadRequest", "the request body must be an object")
        return body  # type: ignore[return-value]

    # --- verbs ---
    def _matchers(self, req: Request) -> list[Matcher]:
        return [label_matcher(req.q("labelSelector")), field_matcher(req.q("fieldSelector"))]

    def _table(
        self, req: Request, t: Target, objects: list[dict[str, Any]], rv: str | None = None
    ) -> dict[str, Any]:
        crd = self.store.find(CRDS, "", f"{t.rtype.plural}.{t.rtype.group}") if t.rtype.group else None
        return table.table(
            t.rtype, objects, crd=crd, include_object=req.q("includeObject"), resource_version=rv
        )

    def _list(self, req: Request, t: Target) -> Response:
        items, rv = self.store.list(t.rtype, t.namespace, *self._matchers(req))
        if table.wants_table(req.header("accept")):
            return json_response(self._table(req, t, [_render(o, t.rtype) for o in items], str(rv)))
        return json_response(
            {
                "kind": f"{t.rtype.kind}List",
                "apiVersion": t.rtype.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": [_render(o, t.rtype) for o in items],
            }
        )

    def _watch(self, req: Request, t: Target) -> Response:
        matchers = self._matchers(req)
        timeout = float(req.q("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT_S)
        rv_param = req.q("resourceVersion") or "0"
        initial: list[dict[str, Any]] = []
        if rv_param == "0":
            initial, since = self.store.list(t.rtype, t.namespace, *matchers)
        else:
            try:
                since = int(rv_param)
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"invalid resourceVersion {rv_param!r}") from exc
        events = self.store.events(since, timeout)
        as_table = table.wants_table(req.header("accept"))

        def line(kind: str, obj: dict[str, Any]) -> bytes:
            """One event; ``kubectl get -w`` asks for Tables: each event's object is a one-row Table."""
            rendered = _render(obj, t.rtype)
            shown = self._table(req, t, [rendered]) if as_table else rendered
            return json.dumps({"type": kind, "object": shown}).encode() + b"\n"

        def lines() -> Iterator[bytes]:
            for obj in initial:
                yield line("ADDED", obj)
            for event in events:
                obj = event.obj
                if event.rtype.group_resource != t.rtype.group_resource:
                    continue
                if t.namespace and obj["metadata"].get("namespace") != t.namespace:
                    continue
                if all(m(obj) for m in matchers):
                    yield line(event.type, obj)

        return Response(status=200, stream=lines(), content_type="application/json")

    def _put(self, req: Request, t: Target, dry_run: bool) -> Response:
        body = self._body(req)
        meta = body.setdefault("metadata", {})
        if meta.get("name", t.name) != t.name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        meta["name"] = t.name
        if t.rtype.namespaced:
            meta["namespace"] = t.namespace
        updated = self.store.update(t.rtype, body, status_only=t.sub == "status", dry_run=dry_run)
        return json_response(_render(updated, t.rtype))

    def _patch(self, req: Request, t: Target, dry_run: bool) -> Response:
        assert t.name is not None
        content_type = (req.header("content-type") or "").split(";")[0].strip()
        body = self._body(req)
        name = t.name

        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            if current is None:
                if content_type != "application/apply-patch+yaml":
                    raise ApiError(
                        404,
                        "NotFound",
                        f'{t.rtype.plural} "{name}" not found',
                        {"name": name, "group": t.rtype.group, "kind": t.rtype.plural},
                    )
                return body  # server-side apply creates
            if content_type == "application/json-patch+json":
                if not isinstance(body, list):
                    raise ApiError(400, "BadRequest", "a json patch must be a list of operations")
                new = patch.json_patch(current, body)
            elif content_type == "application/merge-patch+json":
                new = patch.merge_patch(current, body)
            elif content_type in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
                new = patch.strategic_merge(current, body)
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {content_type!r}")
            new = copy.deepcopy(new)
            new.setdefault("metadata", {})["name"] = name
            if t.rtype.namespaced:
                new["metadata"]["namespace"] = current["metadata"].get("namespace")
            return new

        obj, created = self.store.mutate(
            t.rtype, t.namespace, name, change, status_only=t.sub == "status", dry_run=dry_run
        )
        return json_response(_render(obj, t.rtype), 201 if created else 200)

    @staticmethod
    def _delete_options(req: Request) -> dict[str, Any]:
        """A DELETE's JSON DeleteOptions body; ``{}`` when absent or not JSON (protobuf from client-go)."""
        if req.method != "DELETE" or not req.body:
            return {}
        try:
            options = json.loads(req.body)
        except ValueError:
            return {}
        return options if isinstance(options, dict) else {}

    def _dry_run(self, req: Request) -> bool:
        """``dryRun`` of a write: the query parameter, else a DeleteOptions body's. Only ``All`` exists;
        anything else is refused as the real API refuses it (422 Invalid on the request's options kind)."""
        kind = _OPTIONS_KIND.get(req.method)
        if kind is None:
            return False
        query = req.q("dryRun")
        body = self._delete_options(req).get("dryRun") or []
        values = [query] if query is not None else [body] if isinstance(body, str) else list(body)
        if any(v != DRY_RUN_ALL for v in values):
            shown = "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"
            cause = f'Unsupported value: {shown}: supported values: "{DRY_RUN_ALL}"'
            raise ApiError(
                422,
                "Invalid",
                f'{kind}.meta.k8s.io "" is invalid: dryRun: {cause}',
                {
                    "group": "meta.k8s.io",
                    "kind": kind,
                    "causes": [{"reason": "FieldValueNotSupported", "message": cause, "field": "dryRun"}],
                },
            )
        return bool(values)

    def _propagation(self, req: Request, rtype: ResourceType) -> str:
        policy = req.q("propagationPolicy")
        options = self._delete_options(req)
        policy = policy or options.get("propagationPolicy")
        if policy is None and (
            (req.q("orphanDependents") or "").lower() == "true" or options.get("orphanDependents")
        ):
            policy = "Orphan"
        # batch/v1 Jobs orphan their pods unless asked otherwise, as the real REST API does.
        return policy or ("Orphan" if rtype.group_resource == ("batch", "jobs") else "Background")

    def _delete_collection(self, req: Request, t: Target, dry_run: bool) -> Response:
        items, _ = self.store.list(t.rtype, t.namespace, *self._matchers(req))
        propagation = self._propagation(req, t.rtype)
        for obj in items:
            namespace, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
            self.store.delete(t.rtype, namespace, name, propagation, dry_run=dry_run)
        return json_response(
            {
                "kind": f"{t.rtype.kind}List",
                "apiVersion": t.rtype.api_version,
                "metadata": {},
                "items": [_render(o, t.rtype) for o in items],
            }
        )

    def _log(self, req: Request, t: Target) -> Response:
        assert t.name is not None
        self.store.get(t.rtype, t.namespace, t.name)
        tail = req.q("tailLines")
        if (req.q("follow") or "").lower() in ("true", "1") and self.follow_log is not None:
            stream = self.follow_log(t.namespace, t.name, int(tail) if tail else None)
            if stream is not None:
                return Response(status=200, stream=stream, content_type="text/plain")
        text = self.read_log(t.namespace, t.name, int(tail) if tail else None)
        if text is None:
            raise ApiError(
                400, "BadRequest", f'container in pod "{t.name}" is waiting to start: ContainerCreating'
            )
        return Response(body=text, content_type="text/plain")
