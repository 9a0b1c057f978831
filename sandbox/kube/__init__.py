"""Per-cluster Kubernetes APIs: started on ``cluster.created`` (stopped on ``cluster.deleted``), nodes added
on ``vmss.created``.

``world.clusters[key(cluster_id)]`` is a :class:`ClusterRuntime` (``server_url``, ``user_token``,
``admin_token``, ``store``). See docs/sandbox-internals.md ("Kubernetes").
"""

from __future__ import annotations

import logging
from typing import Any

from ..certs import CertPaths
from ..state import World, key
from .cluster import ClusterRuntime
from .nodes import add_pool_nodes

log = logging.getLogger("sandbox.kube")

__all__ = ["ClusterRuntime", "KubeApis"]


class KubeApis:
    def __init__(self, world: World, certs: CertPaths) -> None:
        self.world = world
        self.certs = certs
        self._stopped = False

    def start(self) -> KubeApis:
        self.world.subscribe(self._on_event)
        return self

    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        if self._stopped:
            return
        if event == "cluster.created":
            self.ensure_cluster(data["cluster_id"])
        elif event == "cluster.deleted":
            with self.world.lock:
                gone = self.world.clusters.pop(key(data["cluster_id"]), None)
            if isinstance(gone, ClusterRuntime):
                gone.stop()
        elif event == "vmss.created":
            runtime = self.ensure_cluster(data["cluster_id"])
            vmss = self.world.get(data["vmss_id"]) or {"id": data["vmss_id"]}
            count = data.get("count") or vmss.get("_sandbox", {}).get("instances", 1)
            added = add_pool_nodes(runtime.store, vmss, data["pool"], data.get("mode", "User"), int(count))
            log.info("cluster %s: nodes %s", data["cluster_id"], ", ".join(added))

    def ensure_cluster(self, cluster_id: str) -> ClusterRuntime:
        with self.world.lock:
            runtime = self.world.clusters.get(key(cluster_id))
            if runtime is None:
                runtime = ClusterRuntime(self.world, self.certs, cluster_id).start()
                self.world.clusters[key(cluster_id)] = runtime
                log.info("cluster %s: Kubernetes API at %s", cluster_id, runtime.server_url)
        return runtime

    def stop(self) -> None:
        self._stopped = True
        with self.world.lock:
            runtimes = list(self.world.clusters.values())
        for runtime in runtimes:
            if isinstance(runtime, ClusterRuntime):
                runtime.stop()
