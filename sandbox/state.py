"""The sandbox's whole world: tenants, principals, subscriptions, ARM resources, role assignments, clusters.

Every service (ARM, token endpoint, IMDS, Kubernetes APIs, storage front, admin) reads and changes this one
object under ``world.lock``. Resource ids are keys in lower case (ARM is case-insensitive); bodies keep the
casing they were created with. Slow things (LROs, role propagation) are scheduled on ``world.scheduler``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from .profiles import Timing
from .tokens import TokenSigner

log = logging.getLogger("sandbox.state")


def key(resource_id: str) -> str:
    """The case-insensitive key of an ARM id (also strips a trailing slash)."""
    return resource_id.rstrip("/").lower()


def new_guid() -> str:
    return str(uuid.uuid4())


@dataclass
class Tenant:
    id: str
    name: str
    is_publisher: bool = False


@dataclass
class Principal:
    """A service principal or a managed identity's service principal."""

    object_id: str
    tenant_id: str
    kind: str  # "ServicePrincipal" (app registration with a secret) or "ManagedIdentity"
    client_id: str
    display_name: str
    created_at: float = field(default_factory=time.time)
    secret: str | None = None
    resource_id: str | None = None  # for managed identities: the userAssignedIdentities id
    multi_tenant: bool = False  # a publisher app may get tokens in customer tenants
    # A platform principal (the Managed Applications service deploying a package) acts with full rights under
    # this scope: Azure authorizes its own resource providers internally, not through role assignments.
    platform_scope: str | None = None


@dataclass
class Subscription:
    id: str
    tenant_id: str
    display_name: str


@dataclass
class RoleDefinition:
    id: str  # guid
    role_name: str
    actions: list[str]
    not_actions: list[str] = field(default_factory=list)
    data_actions: list[str] = field(default_factory=list)
    not_data_actions: list[str] = field(default_factory=list)


@dataclass
class RoleAssignment:
    scope: str
    name: str
    role_definition_id: (
        str  # full id: /subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}
    )
    principal_id: str
    principal_type: str
    delegated_managed_identity_resource_id: str | None = None
    description: str | None = None
    created_by: str | None = None
    created_at: float = field(default_factory=time.time)
    effective_at: float = 0.0  # the moment authorization checks start honouring it

    @property
    def id(self) -> str:
        return f"{self.scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{self.name}"

    @property
    def role_guid(self) -> str:
        return self.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


class Scheduler:
    """Runs callbacks at a wall-clock time on one background thread (LRO completions, propagation)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sandbox-scheduler", daemon=True)
        self._thread.start()

    def at(self, when: float, fn: Callable[[], None]) -> None:
        with self._cv:
            heapq.heappush(self._heap, (when, next(self._counter), fn))
            self._cv.notify()

    def after(self, delay_s: float, fn: Callable[[], None]) -> None:
        self.at(time.time() + max(0.0, delay_s), fn)

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    timeout = None if not self._heap else max(0.0, self._heap[0][0] - time.time())
                    self._cv.wait(timeout)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("scheduled callback failed")


Listener = Callable[[str, dict[str, Any]], None]


_TIMING_OVERRIDE: ContextVar[Timing | None] = ContextVar("timing_override", default=None)


class World:
    def __init__(self, timing: Timing) -> None:
        self.lock = threading.RLock()
        self._timing = timing
        self.signer = TokenSigner()
        self.scheduler = Scheduler()
        self.tenants: dict[str, Tenant] = {}
        self.principals: dict[str, Principal] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.resources: dict[str, dict[str, Any]] = {}
        self.role_definitions: dict[str, RoleDefinition] = {}
        self.role_assignments: dict[str, RoleAssignment] = {}
        self.locked_scopes: set[str] = set()
        self.request_log: list[dict[str, Any]] = []
        self.urls: dict[str, str] = {}
        self.publisher: Principal | None = None
        # Per-cluster runtime (Kubernetes API url, tokens, object store), keyed by key(cluster id);
        # registered by sandbox.kube when a cluster is created.
        self.clusters: dict[str, Any] = {}
        # The ARM handlers as a template deployment reaches them (sandbox.arm's Dispatcher), set by sandbox.arm.
        self.arm: Any = None
        self._listeners: list[Listener] = []

    @property
    def timing(self) -> Timing:
        """The profile's delays, or none inside ``instantly()`` on this thread."""
        return _TIMING_OVERRIDE.get() or self._timing

    @timing.setter
    def timing(self, value: Timing) -> None:
        self._timing = value

    @contextmanager
    def instantly(self) -> Iterator[None]:
        """Every delay zero for what this thread does (something that happened long ago, e.g. an application a
        customer deployed from the Marketplace before onboarding)."""
        zero = replace(
            self._timing,
            app_deploy_s=0.0,
            agentpool_create_s=0.0,
            cluster_update_s=0.0,
            vmss_update_s=0.0,
            refresh_permissions_s=0.0,
            role_propagation_s=0.0,
            principal_not_found_s=0.0,
        )
        token = _TIMING_OVERRIDE.set(zero)
        try:
            yield
        finally:
            _TIMING_OVERRIDE.reset(token)

    # --- events between services (e.g. a new scale set makes Kubernetes nodes) ---
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: str, **data: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, data)
            except Exception:
                log.exception("listener failed for %s", event)

    # --- principals ---
    def add_principal(self, principal: Principal) -> Principal:
        with self.lock:
            self.principals[principal.object_id] = principal
        return principal

    def principal_by_client_id(self, client_id: str) -> Principal | None:
        with self.lock:
            for p in self.principals.values():
                if p.client_id.lower() == client_id.lower():
                    return p
        return None

    def principal_by_resource_id(self, resource_id: str) -> Principal | None:
        with self.lock:
            for p in self.principals.values():
                if p.resource_id and key(p.resource_id) == key(resource_id):
                    return p
        return None

    # --- resources ---
    def get(self, resource_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.resources.get(key(resource_id))

    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.resources[key(body["id"])] = body
        return body

    def delete(self, resource_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.resources.pop(key(resource_id), None)

    def children(self, parent_id: str, resource_type: str | None = None) -> list[dict[str, Any]]:
        """Resources whose id starts with ``parent_id/`` (optionally of one type), in creation order."""
        prefix = key(parent_id) + "/"
        with self.lock:
            found = [r for k, r in self.resources.items() if k.startswith(prefix)]
        if resource_type:
            found = [r for r in found if r.get("type", "").lower() == resource_type.lower()]
        return found

    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.request_log.append(entry)
