"""CustomerContext: one customer's spec, settings, credentials and lazily created SDK clients.

Shared by the steps of one customer (and by parallel tasks in one worker process), so creation is locked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from . import errors
from .azure import managed_app
from .azure.clients import make_client
from .azure.credentials import ApplicationTokenCredential, publisher_credential, worker_identity_credential
from .models import CredentialSource, CustomerSpec
from .polling import poll_until, retry_propagation
from .settings import Settings

C = TypeVar("C")
T = TypeVar("T")


class CustomerContext:
    def __init__(self, spec: CustomerSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self._lock = threading.RLock()
        self._publisher: TokenCredential | None = None
        self._node_rg: TokenCredential | None = None
        self._identity_id: str | None = None
        self._clients: dict[tuple[type, int], Any] = {}

    # --- identity of the application (its resource id is known after discovery; until then the template's) ---
    @property
    def application_id(self) -> str:
        return managed_app.application_id(self.spec)

    @property
    def app_identity_id(self) -> str:
        return self._identity_id or managed_app.expected_identity_id(self.spec)

    def use_app_identity(self, identity_id: str) -> None:
        """Record the application's identity as discovered (its ``userAssignedIdentity`` output)."""
        with self._lock:
            if self._identity_id is None or self._identity_id.lower() != identity_id.lower():
                self._identity_id = identity_id
                self._node_rg = None

    # --- credentials ---
    @property
    def publisher_credential(self) -> TokenCredential:
        with self._lock:
            if self._publisher is None:
                self._publisher = publisher_credential(self.settings)
            return self._publisher

    @property
    def node_rg_credential(self) -> TokenCredential:
        """The credential that holds roles on the node resource group, per ``spec.credential_source``."""
        with self._lock:
            if self._node_rg is None:
                source = self.spec.credential_source
                if source is CredentialSource.PUBLISHER:
                    self._node_rg = self.publisher_credential
                elif source is CredentialSource.APPLICATION_TOKENS:
                    self._node_rg = ApplicationTokenCredential(self.list_tokens, self.app_identity_id)
                else:
                    self._node_rg = worker_identity_credential(self.app_identity_id, self.settings)
            return self._node_rg

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
        with self._lock:
            if cache_key not in self._clients:
                self._clients[cache_key] = make_client(
                    cls, credential, self.spec.subscription_id, self.settings
                )
            return self._clients[cache_key]  # type: ignore[no-any-return]

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
