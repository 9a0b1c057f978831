"""CustomerContext: one customer's spec, settings, credentials and lazily created SDK clients.

Shared by the steps of one customer (and by parallel tasks in one worker process), so creation is locked.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from . import errors
from .azure import managed_app
from .azure.clients import make_client
from .azure.credentials import ApplicationTokenCredential, publisher_credential, worker_identity_credential
from .cluster import ClusterInfo
from .ids import ResourceId
from .models import CredentialSource, CustomerSpec
from .polling import poll_until, retry_propagation
from .settings import Settings

C = TypeVar("C")
T = TypeVar("T")


@dataclass
class _Shared:
    """What every view of one customer's context shares (parallel tasks in one worker process too)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    publisher: TokenCredential | None = None
    node_rg: dict[ResourceId, TokenCredential] = field(default_factory=dict)
    clients: dict[tuple[type, int], Any] = field(default_factory=dict)


class CustomerContext:
    """Acts as the application's identity ``app_identity_id``: the template's until a step is handed what
    discovery found (``for_cluster``), which gives a view of this context with that identity; nothing in it
    changes after creation but its caches."""

    def __init__(self, spec: CustomerSpec, settings: Settings, *, app_identity_id: str | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.app_identity_id = app_identity_id or managed_app.expected_identity_id(spec)
        self._shared = _Shared()

    # --- identity of the application ---
    @property
    def application_id(self) -> str:
        return managed_app.application_id(self.spec)

    def for_app_identity(self, identity_id: str) -> CustomerContext:
        """This context acting as ``identity_id`` (the same publisher credential, clients and caches)."""
        if ResourceId(identity_id) == ResourceId(self.app_identity_id):
            return self
        view = copy.copy(self)
        view.app_identity_id = identity_id
        return view

    def for_spec(self, spec: CustomerSpec) -> CustomerContext:
        """This context for a variant of its spec (a migration's target mode), sharing credentials and clients."""
        view = copy.copy(self)
        view.spec = spec
        return view

    def with_settings(self, **changes: Any) -> CustomerContext:
        """This context with some settings changed for one run (the shared clients keep their own settings)."""
        view = copy.copy(self)
        view.settings = self.settings.model_copy(update=changes)
        return view

    def for_cluster(self, cluster: ClusterInfo) -> CustomerContext:
        """This context acting as the application identity discovery found in ``cluster``."""
        return self.for_app_identity(cluster.app_identity.resource_id)

    # --- credentials ---
    @property
    def publisher_credential(self) -> TokenCredential:
        with self._shared.lock:
            if self._shared.publisher is None:
                self._shared.publisher = publisher_credential(self.settings)
            return self._shared.publisher

    @property
    def node_rg_credential(self) -> TokenCredential:
        """The credential that holds roles on the node resource group, per ``spec.credential_source``."""
        source = self.spec.credential_source
        if source is CredentialSource.PUBLISHER:
            return self.publisher_credential
        identity = ResourceId(self.app_identity_id)
        with self._shared.lock:
            if identity not in self._shared.node_rg:
                self._shared.node_rg[identity] = (
                    ApplicationTokenCredential(self.list_tokens, self.app_identity_id)
                    if source is CredentialSource.APPLICATION_TOKENS
                    else worker_identity_credential(self.app_identity_id, self.settings)
                )
            return self._shared.node_rg[identity]

    @property
    def node_rg_is_app_identity(self) -> bool:
        return self.spec.credential_source is not CredentialSource.PUBLISHER

    def list_tokens(self, audience: str, identity_ids: list[str]) -> list[dict[str, Any]]:
        """listTokens on the application as the publisher (the TokenLister of ApplicationTokenCredential).

        No step of its own: a token is fetched while a step's call authenticates, and that step's ``errors``
        block names itself and its call in front of this one."""
        action = f"listTokens for {audience} on application {self.spec.managed_application.name}"
        with errors.azure_errors(customer=self.spec.name, step=None, action=action):
            return managed_app.list_tokens(self.resources, self.application_id, audience, identity_ids)

    # --- clients ---
    def client(self, cls: type[C], *, node_rg: bool = False) -> C:
        """A management client for the customer's subscription, as the publisher or the node-RG credential."""
        credential = self.node_rg_credential if node_rg else self.publisher_credential
        cache_key = (cls, id(credential))
        with self._shared.lock:
            if cache_key not in self._shared.clients:
                self._shared.clients[cache_key] = make_client(
                    cls, credential, self.spec.subscription_id, self.settings
                )
            return self._shared.clients[cache_key]  # type: ignore[no-any-return]

    @property
    def resources(self) -> ResourceManagementClient:
        return self.client(ResourceManagementClient)

    # --- errors and waiting ---
    def errors(self, step: str, action: str) -> contextlib.AbstractContextManager[None]:
        return errors.azure_errors(customer=self.spec.name, step=step, action=action)

    def poll(self, fn: Callable[[], T | None], *, timeout_s: float, what: str) -> tuple[T, float]:
        return poll_until(
            fn,
            timeout_s=timeout_s,
            initial_delay_s=self.settings.poll_interval_s,
            max_delay_s=self.settings.retry_max_delay_s,
            what=what,
        )

    def through_propagation(self, fn: Callable[[], T], *, what: str, hint: str) -> tuple[T, float]:
        """Retry ``fn`` while a 403/PrincipalNotFound can still be role propagation (``propagation_budget_s``)."""
        return retry_propagation(
            fn,
            budget_s=self.settings.propagation_budget_s,
            initial_delay_s=self.settings.poll_interval_s,
            max_delay_s=self.settings.retry_max_delay_s,
            what=what,
            hint=hint,
        )
