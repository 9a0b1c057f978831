"""One AKS cluster's Kubernetes side: its store, its HTTPS API server, tokens, admission and controllers.

Controllers (job, workloads, kubelet) run on one thread per cluster fed by the store's events, so they
never race each other; slow things (pod start, deadlines) come back through ``enqueue``.
"""

from __future__ import annotations

import logging
import queue
import secrets
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from ..certs import CertPaths
from ..httpd import HttpService
from ..state import World, key
from .attach import Attacher
from .jobs import JobController
from .kubelet import Kubelet
from .server import KubeApiApp
from .store import Event, Store
from .workload_identity import WorkloadIdentityWebhook
from .workloads import WorkloadController

log = logging.getLogger("sandbox.kube")

Work = Event | Callable[[], None] | None


def cluster_guid(cluster_id: str) -> str:
    """The stable id of a cluster in sandbox URLs (IMDS pod paths)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key(cluster_id)))


class ClusterRuntime:
    """What ``world.clusters[key(cluster_id)]`` holds: ``server_url``, ``user_token``, ``admin_token``, ``store``."""

    def __init__(self, world: World, certs: CertPaths, cluster_id: str) -> None:
        self.cluster_id = cluster_id
        self.guid = cluster_guid(cluster_id)
        self.user_token = secrets.token_urlsafe(32)
        self.admin_token = secrets.token_urlsafe(32)
        self.store = Store()
        self.store.admission.append(WorkloadIdentityWebhook(world, self.store, cluster_id))
        base = Path(world.urls["state_dir"]) / "kube" if "state_dir" in world.urls else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"cluster-{self.guid[:8]}-", dir=base))
        self.kubelet = Kubelet(world, self.store, cluster_id, self.guid, self.workdir)
        self.jobs = JobController(world, self.store, self.enqueue)
        self.workloads = WorkloadController(self.store)
        self._queue: queue.Queue[Work] = queue.Queue()
        self.store.subscribe(self._queue.put)
        app = KubeApiApp(
            self.store,
            {self.user_token, self.admin_token},
            self.kubelet.read_log,
            self.kubelet.log_chunks,
            Attacher(self.kubelet),
        )
        self.server = HttpService(f"kube-{self.guid[:8]}", app, certs=certs)
        self._thread = threading.Thread(
            target=self._run, name=f"kube-controllers-{self.guid[:8]}", daemon=True
        )

    @property
    def server_url(self) -> str:
        return self.server.url

    def enqueue(self, work: Callable[[], None]) -> None:
        self._queue.put(work)

    def start(self) -> ClusterRuntime:
        self.server.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            try:
                if isinstance(work, Event):
                    for handle in (self.kubelet.handle, self.jobs.handle, self.workloads.handle):
                        handle(work)
                else:
                    work()
            except Exception:
                log.exception("controller failed on %s", work)

    def stop(self) -> None:
        self._queue.put(None)
        self.store.close()
        self.server.stop()
        self.kubelet.stop()
