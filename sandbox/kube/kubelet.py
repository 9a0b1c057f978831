"""Schedules pods on nodes and runs them as local subprocesses (``images.py`` decides which and with what argv).

``python``/``python3`` becomes this interpreter; base OS images run their shell commands with this machine's
programs; a program that is not here fails the container at start (``StartError``). ConfigMap/Secret volumes are
written to a per-pod temp dir and their mountPath prefix is rewritten in command, args, env values and workingDir.
The process gets a clean environment (never the sandbox's own): PATH = the pod shims (``images.write_tools``) +
this machine's PATH, the pod's env, the node's IMDS address as ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` and the sandbox
CA as ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE``. Projected volumes get their service account tokens
(``projected_tokens.py``): the workload identity webhook (``workload_identity.py``) puts one in the pod's spec.
A container with ``stdin: true`` gets a pipe that ``pods/attach`` writes to. Only the first runnable container of
a pod runs; containers are not restarted (restartPolicy is not honoured beyond reporting).
Pods without a runnable container (NMI, MIC, other charts' images) become Running and Ready and stay so.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..state import World
from .images import Plan, plan, write_tools
from .nodes import NODES, is_ready
from .projected_tokens import projected_token
from .resources import builtin
from .selectors import match_labels
from .store import Event, Store, now_rfc3339

PODS = builtin("Pod")
CONFIGMAPS = builtin("ConfigMap")
SECRETS = builtin("Secret")
SERVICEACCOUNTS = builtin("ServiceAccount")
PodKey = tuple[str, str]


def pod_imds_url(imds_url: str, cluster_guid: str, node: str, namespace: str, pod: str) -> str:
    """The IMDS address a pod sees (its node's IMDS, as NMI intercepts it)."""
    return f"{imds_url}/clusters/{cluster_guid}/nodes/{node}/pods/{namespace}/{pod}"


def _conditions(ready: bool, reason: str | None = None) -> list[dict[str, Any]]:
    now = now_rfc3339()
    out = []
    for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
        ok = ready or kind in ("Initialized", "PodScheduled")
        cond = {
            "type": kind,
            "status": "True" if ok else "False",
            "lastProbeTime": None,
            "lastTransitionTime": now,
        }
        if not ok and reason:
            cond["reason"] = reason
        out.append(cond)
    return out


class Kubelet:
    def __init__(self, world: World, store: Store, cluster_id: str, cluster_guid: str, workdir: Path) -> None:
        self.world = world
        self.store = store
        self.cluster_id = cluster_id
        self.cluster_guid = cluster_guid
        self.workdir = workdir
        self._lock = threading.Lock()
        self._started: set[str] = set()  # pod uids
        self._procs: dict[PodKey, subprocess.Popen[bytes]] = {}
        self._logs: dict[PodKey, Path] = {}
        self._launched: dict[PodKey, subprocess.Popen[bytes]] = {}
        self._next_node = 0
        self.tools = write_tools(workdir / "tools")
        self.path = f"{self.tools}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"

    # --- events (controller thread) ---
    def handle(self, event: Event) -> None:
        if event.rtype.group_resource == PODS.group_resource:
            meta = event.obj["metadata"]
            key = (meta["namespace"], meta["name"])
            if event.type == "DELETED":
                self._stop(key)
            elif event.obj.get("status", {}).get("phase") == "Pending" and meta["uid"] not in self._started:
                self._schedule(event.obj)
        elif event.rtype.group_resource == NODES.group_resource and event.type == "ADDED":
            pending, _ = self.store.list(PODS, None, lambda p: p.get("status", {}).get("phase") == "Pending")
            for pod in pending:
                if pod["metadata"]["uid"] not in self._started:
                    self._schedule(pod)

    def _pick_node(self, pod: dict[str, Any]) -> str | None:
        selector = pod["spec"].get("nodeSelector") or {}
        nodes, _ = self.store.list(
            NODES,
            None,
            lambda n: (
                is_ready(n) and match_labels({"matchLabels": selector}, n["metadata"].get("labels") or {})
            ),
        )
        if not nodes:
            return None
        self._next_node += 1
        return str(nodes[self._next_node % len(nodes)]["metadata"]["name"])

    def _schedule(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        node = pod["spec"].get("nodeName") or self._pick_node(pod)
        if node is None:
            self._set_status(
                pod,
                lambda s: s.update(
                    conditions=[
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/0 nodes are available: no node matches the pod's node selector",
                        }
                    ]
                ),
            )
            return
        self._started.add(meta["uid"])
        if not pod["spec"].get("nodeName"):
            bound = copy.deepcopy(pod)
            bound["spec"]["nodeName"] = node
            bound["metadata"].pop("resourceVersion", None)
            self.store.update(PODS, bound)
        self._set_status(
            pod,
            lambda s: s.update(
                conditions=[{"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()}]
            ),
        )
        uid = meta["uid"]
        self.world.scheduler.after(
            self.world.timing.pod_start_s, lambda: self._start(meta["namespace"], meta["name"], uid)
        )

    def _set_status(self, pod: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
        meta = pod["metadata"]

        def apply(current: dict[str, Any] | None) -> dict[str, Any]:
            if current is None or current["metadata"]["uid"] != meta["uid"]:
                raise LookupError("pod is gone")
            change(current.setdefault("status", {}))
            return current

        with contextlib.suppress(LookupError):
            self.store.mutate(PODS, meta["namespace"], meta["name"], apply, status_only=True)

    # --- running (scheduler thread / waiter threads) ---
    def _start(self, namespace: str, name: str, uid: str) -> None:
        pod = self.store.find(PODS, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        spec, started = pod["spec"], now_rfc3339()
        containers = spec.get("containers", [])
        plans = ((c, plan(c, self.path)) for c in containers)
        target, how = next(((c, p) for c, p in plans if p is not None), (None, None))
        proc = None
        if target is not None and how is not None:
            try:
                if how.error is not None:
                    raise OSError(how.error)
                proc = self._launch(pod, target, how)
            except (OSError, LookupError, ValueError) as exc:
                self._start_failed(pod, target, str(exc), started)
                return

        def running(status: dict[str, Any]) -> None:
            status.update(
                phase="Running",
                startTime=started,
                hostIP="10.224.0.4",
                podIP="10.244.0.10",
                conditions=_conditions(True),
                qosClass="BestEffort",
                containerStatuses=[
                    self._container_status(c, {"running": {"startedAt": started}}, True) for c in containers
                ],
            )

        self._set_status(pod, running)
        if proc is not None and target is not None:
            threading.Thread(
                target=self._wait,
                args=(pod, target, proc, started),
                daemon=True,
                name=f"pod-{namespace}-{name}",
            ).start()

    def _container_status(
        self, container: dict[str, Any], state: dict[str, Any], ready: bool
    ) -> dict[str, Any]:
        return {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": f"sandbox://{container.get('image', '')}",
            "containerID": f"sandbox://{container['name']}",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": state,
        }

    def _wait(
        self, pod: dict[str, Any], container: dict[str, Any], proc: subprocess.Popen[bytes], started: str
    ) -> None:
        code = proc.wait()
        self._finish(pod, container, code, "Completed" if code == 0 else "Error", started)

    def _start_failed(
        self, pod: dict[str, Any], container: dict[str, Any], message: str, started: str
    ) -> None:
        """What containerd reports when it cannot start a container: terminated, StartError, exit code 128."""
        meta = pod["metadata"]
        pod_dir = Path(tempfile.mkdtemp(prefix=f"{meta['namespace']}-{meta['name']}-", dir=self.workdir))
        (pod_dir / "container.log").write_bytes(b"")
        self._logs[(meta["namespace"], meta["name"])] = pod_dir / "container.log"
        self._finish(pod, container, 128, "StartError", started, message)

    def _finish(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        code: int,
        reason: str,
        started: str,
        message: str | None = None,
    ) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        with self._lock:
            self._procs.pop(key, None)
        finished = now_rfc3339()

        def done(status: dict[str, Any]) -> None:
            terminated = {
                "terminated": {
                    "exitCode": code,
                    "reason": reason,
                    "startedAt": started,
                    "finishedAt": finished,
                    "containerID": f"sandbox://{container['name']}",
                    **({"message": message} if message else {}),
                }
            }
            status.update(
                phase="Succeeded" if code == 0 else "Failed",
                conditions=_conditions(False, "PodCompleted"),
                containerStatuses=[
                    self._container_status(c, terminated, False) for c in pod["spec"].get("containers", [])
                ],
            )
            status.setdefault("startTime", started)

        self._set_status(pod, done)

    def _stop(self, key: PodKey) -> None:
        with self._lock:
            proc = self._procs.pop(key, None)
            self._launched.pop(key, None)
        if proc is not None and proc.poll() is None:
            proc.kill()

    def read_log(self, namespace: str, name: str, tail_lines: int | None) -> str | None:
        path = self._logs.get((namespace, name))
        if path is None or not path.exists():
            return None
        text = path.read_bytes().decode("utf-8", "replace")
        if tail_lines is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
        return text

    def process(self, namespace: str, name: str) -> tuple[subprocess.Popen[bytes], Path] | None:
        """The pod's container process (running or ended) and its log, for ``pods/attach``."""
        key = (namespace, name)
        with self._lock:
            proc, path = self._launched.get(key), self._logs.get(key)
        return (proc, path) if proc is not None and path is not None else None

    def log_chunks(self, namespace: str, name: str, tail_lines: int | None) -> Iterator[bytes] | None:
        """The container's output as it is written, ending when the process has ended and all is read
        (``follow=true``); None when the container has not started."""
        key = (namespace, name)
        path = self._logs.get(key)
        if path is None:
            return None

        def running() -> bool:
            with self._lock:
                proc = self._launched.get(key)
            return proc is not None and proc.poll() is None

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as f:
                if tail_lines is not None:
                    lines = f.read().splitlines(keepends=True)
                    if tail := b"".join(lines[-tail_lines:] if tail_lines > 0 else []):
                        yield tail
                while True:
                    alive = running()
                    data = f.read(65536)
                    if data:
                        yield data
                    elif not alive:
                        return
                    else:
                        time.sleep(0.05)

        return chunks()

    # --- process setup ---
    def _launch(self, pod: dict[str, Any], container: dict[str, Any], how: Plan) -> subprocess.Popen[bytes]:
        meta, spec = pod["metadata"], pod["spec"]
        pod_dir = Path(tempfile.mkdtemp(prefix=f"{meta['namespace']}-{meta['name']}-", dir=self.workdir))
        mounts = self._volumes(pod, container, pod_dir)
        env = {
            "PATH": self.path,
            "HOME": str(pod_dir),
            "HOSTNAME": meta["name"],
            "PYTHONUNBUFFERED": "1",
            "LANG": "C.UTF-8",
        }
        env.update(self._pod_env(pod, container))
        env.update(
            {
                "AZURE_POD_IDENTITY_AUTHORITY_HOST": pod_imds_url(
                    self.world.urls["imds"],
                    self.cluster_guid,
                    spec["nodeName"],
                    meta["namespace"],
                    meta["name"],
                ),
                "SSL_CERT_FILE": self.world.urls["ca_bundle"],
                "REQUESTS_CA_BUNDLE": self.world.urls["ca_bundle"],
            }
        )

        def rewrite(text: str) -> str:
            for mount_path in sorted(mounts, key=len, reverse=True):
                pattern = r"(?<![\w/.-])" + re.escape(mount_path.rstrip("/")) + r"(?=/|$|[\s'\"])"
                text = re.sub(pattern, lambda _m, mp=mount_path: mounts[mp], text)
            return text

        argv = [rewrite(a) for a in how.argv]
        env = {k: rewrite(v) for k, v in env.items()}
        cwd = rewrite(container["workingDir"]) if container.get("workingDir") else str(pod_dir)
        log_path = pod_dir / "container.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - handed to the child, closed below
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd if os.path.isdir(cwd) else str(pod_dir),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if container.get("stdin") else subprocess.DEVNULL,
            )
        finally:
            log_file.close()
        key = (meta["namespace"], meta["name"])
        with self._lock:
            self._procs[key] = proc
            self._launched[key] = proc
            self._logs[key] = log_path
        return proc

    def _volumes(self, pod: dict[str, Any], container: dict[str, Any], pod_dir: Path) -> dict[str, str]:
        """Materialise the container's ConfigMap/Secret/projected/emptyDir volumes; mountPath -> local dir."""
        namespace = pod["metadata"]["namespace"]
        by_name = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        mounts: dict[str, str] = {}
        for mount in container.get("volumeMounts", []):
            volume = by_name.get(mount["name"], {})
            local = pod_dir / "volumes" / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            files: dict[str, bytes] = {}
            if "configMap" in volume:
                ref = volume["configMap"]
                cm = self.store.find(CONFIGMAPS, namespace, ref["name"])
                if cm is None and not ref.get("optional"):
                    raise LookupError(f'configmap "{ref["name"]}" not found')
                data = (cm or {}).get("data") or {}
                files = {k: v.encode() for k, v in data.items()}
                files.update(
                    {k: base64.b64decode(v) for k, v in ((cm or {}).get("binaryData") or {}).items()}
                )
                files = self._items(files, ref.get("items"))
            elif "secret" in volume:
                ref = volume["secret"]
                secret = self.store.find(SECRETS, namespace, ref["secretName"])
                if secret is None and not ref.get("optional"):
                    raise LookupError(f'secret "{ref["secretName"]}" not found')
                data = (secret or {}).get("data") or {}
                files = self._items({k: base64.b64decode(v) for k, v in data.items()}, ref.get("items"))
            elif "projected" in volume:
                files = self._projected(pod, volume["projected"])
            for rel, content in files.items():
                target = local / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            source = local / mount["subPath"] if mount.get("subPath") else local
            mounts[mount["mountPath"]] = str(source)
        return mounts

    def _projected(self, pod: dict[str, Any], projected: dict[str, Any]) -> dict[str, bytes]:
        """A projected volume's files: its ``serviceAccountToken`` sources (what the workload identity webhook
        adds); other sources are not served."""
        sa = self.store.find(SERVICEACCOUNTS, pod["metadata"]["namespace"], pod["spec"]["serviceAccountName"])
        sa_uid = str((sa or {}).get("metadata", {}).get("uid", ""))
        return {
            str(source["serviceAccountToken"]["path"]): projected_token(
                self.world, self.cluster_id, pod, sa_uid, source["serviceAccountToken"]
            ).encode()
            for source in projected.get("sources") or []
            if "serviceAccountToken" in source
        }

    @staticmethod
    def _items(files: dict[str, bytes], items: list[dict[str, str]] | None) -> dict[str, bytes]:
        if not items:
            return files
        return {item["path"]: files[item["key"]] for item in items if item["key"] in files}

    def _pod_env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        meta, spec = pod["metadata"], pod["spec"]
        namespace = meta["namespace"]
        fields = {
            "metadata.name": meta["name"],
            "metadata.namespace": namespace,
            "metadata.uid": meta["uid"],
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.serviceAccountName": spec["serviceAccountName"],
            "status.hostIP": "10.224.0.4",
            "status.podIP": "10.244.0.10",
        }
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                cm = self.store.find(CONFIGMAPS, namespace, source["configMapRef"]["name"]) or {}
                env.update({source.get("prefix", "") + k: v for k, v in (cm.get("data") or {}).items()})
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = str(var["value"])
                continue
            ref = var.get("valueFrom", {})
            if "fieldRef" in ref:
                env[var["name"]] = fields.get(ref["fieldRef"]["fieldPath"], "")
            elif "configMapKeyRef" in ref:
                key_ref = ref["configMapKeyRef"]
                cm = self.store.find(CONFIGMAPS, namespace, key_ref["name"]) or {}
                value = (cm.get("data") or {}).get(key_ref["key"])
                if value is None and not key_ref.get("optional"):
                    raise LookupError(f"configmap key {key_ref['name']}/{key_ref['key']} not found")
                if value is not None:
                    env[var["name"]] = value
            elif "secretKeyRef" in ref:
                key_ref = ref["secretKeyRef"]
                secret = self.store.find(SECRETS, namespace, key_ref["name"]) or {}
                raw = (secret.get("data") or {}).get(key_ref["key"])
                if raw is None and not key_ref.get("optional"):
                    raise LookupError(f"secret key {key_ref['name']}/{key_ref['key']} not found")
                if raw is not None:
                    env[var["name"]] = base64.b64decode(raw).decode()
        return env

    def stop(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
            self._procs.clear()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
