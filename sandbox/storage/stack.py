"""The storage stack: Azurite plus the front, the default filesystems of each new account, admin helpers."""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from ..certs import CertPaths
from ..httpd import HttpService
from ..state import World
from .azurite import Azurite
from .front import StorageFront
from .naming import AZURITE_ACCOUNT, AZURITE_KEY, container_name
from .proxy import AzuriteProxy

log = logging.getLogger("sandbox.storage")

SAMPLE_CSV = b"id,name,value\n1,alpha,10\n2,beta,20\n3,gamma,30\n"
# (filesystem, path) created in every new account: the product's default filesystem, and the seed README's
# exact URLs (``GET {dfs}/folder1?recursive=false&resource=filesystem``, ``GET {dfs}/folder1/t1.csv``).
SAMPLE_FILES = (("data", "folder1/t1.csv"), ("folder1", "t1.csv"))
ACCOUNT_READY_TIMEOUT_S = 10.0


class StorageStack:
    def __init__(self, world: World, certs: CertPaths, state_dir: Path) -> None:
        self.world = world
        self.certs = certs
        self.azurite = Azurite(certs, Path(state_dir) / "azurite.log")
        self._service: HttpService | None = None
        self._blobs: BlobServiceClient | None = None
        self._setup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-setup")
        self._pending: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        assert self._service is not None, "StorageStack not started"
        return self._service.url

    @property
    def blobs(self) -> BlobServiceClient:
        assert self._blobs is not None, "StorageStack not started"
        return self._blobs

    def start(self) -> StorageStack:
        self.azurite.start()
        log.info("azurite listening on %s in %.2f s", self.azurite.port, self.azurite.started_in_s)
        self._blobs = BlobServiceClient(
            self.azurite.account_url,
            credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
            connection_verify=str(self.certs.ca_bundle),
        )
        proxy = AzuriteProxy(self.world, self.azurite.port, self.certs.ca_bundle)
        front = StorageFront(self.world, self._blobs, proxy, self.await_account)
        self._service = HttpService("storage", front, certs=self.certs).start()
        self.world.subscribe(self._on_event)
        return self

    def stop(self) -> None:
        if self._service is not None:
            self._service.stop()
        self._setup.shutdown(wait=False, cancel_futures=True)
        self.azurite.stop()

    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "storage.created":
            name = str(data["name"])
            with self._lock:
                self._pending[name.lower()] = self._setup.submit(self._create_defaults, name)

    def _create_defaults(self, account: str) -> None:
        for filesystem, path in SAMPLE_FILES:
            self.put_file(account, filesystem, path, SAMPLE_CSV)

    def await_account(self, account: str) -> None:
        """Wait until the default filesystems of a just-created account exist (a no-op once they do)."""
        with self._lock:
            pending = self._pending.get(account.lower())
        if pending is not None:
            try:
                pending.result(timeout=ACCOUNT_READY_TIMEOUT_S)
            except Exception:
                log.exception("creating the default filesystems of %s failed", account)

    # --- admin helpers (tests, demo) ---
    def create_filesystem(self, account: str, filesystem: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.blobs.create_container(container_name(account, filesystem))

    def put_file(self, account: str, filesystem: str, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` in ``filesystem`` of ``account``, creating the filesystem when missing."""
        self.create_filesystem(account, filesystem)
        container = self.blobs.get_container_client(container_name(account, filesystem))
        container.upload_blob(path.strip("/"), data, overwrite=True)

    def list_files(self, account: str, filesystem: str) -> list[str]:
        container = self.blobs.get_container_client(container_name(account, filesystem))
        return [b.name for b in container.list_blobs()]
