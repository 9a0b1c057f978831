"""The continuity test's workload: a Deployment in the customer's cluster running ``reader/storage_reader.py``, a
collector that keeps every line its pods log (pods come and go when the Deployment rolls out), and the longest
time without a successful read."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from onboarding.kube.probe_job import AAD_POD_IDENTITY_LABEL, WORKLOAD_IDENTITY_LABEL, ProbeRequest, probe_env

NAME = "storage-reader"
READER = Path(__file__).parent / "reader" / "storage_reader.py"
PERIOD_S = 0.5


def reader_deployment(
    request: ProbeRequest, *, selector: str, service_account: str | None = None
) -> dict[str, Any]:
    """The workload: labelled for its pod identity binding; with ``service_account``, also for workload identity
    (the label the webhook looks for and the federated service account)."""
    labels = {"app": NAME, AAD_POD_IDENTITY_LABEL: selector}
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "reader",
                "image": "python:3.11-slim",
                "command": ["python", "/reader/storage_reader.py"],
                "env": [
                    {"name": k, "value": v}
                    for k, v in {
                        **probe_env(request),
                        "PROBE_TIMEOUT_S": "5",
                        "READER_PERIOD_S": str(PERIOD_S),
                    }.items()
                ],
                "volumeMounts": [{"name": "reader", "mountPath": "/reader"}],
            }
        ],
        "volumes": [{"name": "reader", "configMap": {"name": NAME}}],
    }
    if service_account:
        labels[WORKLOAD_IDENTITY_LABEL] = "true"
        spec["serviceAccountName"] = service_account
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": request.namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": NAME}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def deploy_reader(
    api: ApiClient, request: ProbeRequest, *, selector: str, service_account: str | None = None
) -> None:
    probe_source = resources.files("probe").joinpath("probe.py").read_text(encoding="utf-8")
    CoreV1Api(api).create_namespaced_config_map(
        request.namespace,
        {
            "metadata": {"name": NAME, "namespace": request.namespace},
            "data": {"probe.py": probe_source, "storage_reader.py": READER.read_text(encoding="utf-8")},
        },
    )
    AppsV1Api(api).create_namespaced_deployment(
        request.namespace, reader_deployment(request, selector=selector, service_account=service_account)
    )


def move_reader_to_workload_identity(
    api: ApiClient, request: ProbeRequest, *, selector: str, account: str
) -> None:
    """What the customer changes in its workload: the pod template asks for workload identity (a rollout)."""
    body = reader_deployment(request, selector=selector, service_account=account)
    AppsV1Api(api).replace_namespaced_deployment(NAME, request.namespace, body)


@dataclass
class Collector:
    """Polls the log of every reader pod and keeps each line once."""

    api: ApiClient
    namespace: str
    lines: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Collector:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._poll()
        return sorted(self.lines.values(), key=lambda line: line["t"])

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(0.2)

    def _poll(self) -> None:
        core = CoreV1Api(self.api)
        try:
            pods = core.list_namespaced_pod(self.namespace, label_selector=f"app={NAME}").items
        except ApiException:
            return
        for pod in pods:
            try:
                # the raw answer: the client's preloaded one is not the log's text (probe_job.read_probe_log)
                response = core.read_namespaced_pod_log(
                    pod.metadata.name, self.namespace, _preload_content=False
                )
            except ApiException:
                continue
            log = response.data.decode("utf-8", "replace")
            for index, text in enumerate(log.splitlines()):
                if text.startswith("{") and text.endswith("}"):
                    self.lines.setdefault((pod.metadata.name, index), json.loads(text))


def longest_gap(lines: list[dict[str, Any]], *, until: float) -> float:
    """The longest time between two successful reads (or the last one and ``until``), from the first one on."""
    times = [line["t"] for line in lines if line["ok"]]
    if not times:
        return float("inf")
    return max(b - a for a, b in zip(times, [*times[1:], until], strict=True))


def wait_for_reads(collector: Collector, path: str, *, count: int = 3, timeout_s: float = 60) -> None:
    """Until ``count`` successful reads through ``path`` were logged."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(1 for line in list(collector.lines.values()) if line["ok"] and line["path"] == path) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {count} reads through {path} within {timeout_s} s")
