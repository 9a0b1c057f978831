"""The storage probe as a Kubernetes Job: a ConfigMap with ``probe/probe.py``, a Job that runs it once with the
pod identity label (aad-pod-identity) or the workload identity service account, a wait on the Job's condition
(watch, falling back to polling with bounded backoff), the pod's one JSON line, and cleanup of everything.

A run killed mid-probe (SIGKILL, a lost worker) cannot clean up, and ``ttlSecondsAfterFinished`` would remove
only the Job, never the ConfigMap. So every probe run first and last sweeps what earlier runs of the customer left:
probe Jobs that finished or outlived their deadline, and probe objects whose Job is gone. Sweeping and cleanup
never hide the probe's outcome: what they cannot remove is logged and left to the next run's sweep."""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import urllib3.exceptions
from kubernetes import watch
from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from ..errors import OnboardingError, TransientError, from_kubernetes, is_transient
from .objects import CUSTOMER_LABEL, kube_errors, ownership_labels, reason_of, to_dict

RUN_LABEL = "ama-onboarding/probe-run"
AAD_POD_IDENTITY_LABEL = "aadpodidbinding"
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
WATCH_SLICE_S = 30
ORPHAN_GRACE_S = 60  # a ConfigMap or pod without its Job, or a Job past its deadline, this long: nobody's
EXPIRED = 410  # the watch's resourceVersion is too old: read the Job again and watch from there

logger = logging.getLogger(__name__)


@dataclass
class ProbeRequest:
    """What the probe reads and as whom."""

    dfs_endpoint: str
    filesystem: str
    directory: str
    file: str
    client_id: str
    resource_id: str
    audience: str
    namespace: str
    image: str
    selector: str | None = None  # aadpodidbinding label value; None -> no label
    service_account: str | None = None  # workload identity: the federated service account
    timeout_s: float = 300.0
    extra_labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ProbeOutcome:
    job: str
    phase: str  # "Complete", "Failed" or "Timeout"
    result: dict[str, Any] | None
    log_tail: str
    seconds: float


def probe_source() -> str:
    return resources.files("probe").joinpath("probe.py").read_text(encoding="utf-8")


def job_name(run_id: str | None = None) -> str:
    return f"ama-storage-probe-{run_id or uuid.uuid4().hex[:10]}"


def configmap_body(name: str, *, namespace: str, customer: str, run_label: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**ownership_labels(customer), RUN_LABEL: run_label},
        },
        "data": {"probe.py": probe_source()},
    }


def job_body(name: str, request: ProbeRequest, *, customer: str) -> dict[str, Any]:
    labels = {**ownership_labels(customer), RUN_LABEL: name}
    pod_labels = {**labels, **request.extra_labels}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "probe",
                "image": request.image,
                "command": ["python", "/probe/probe.py"],
                "env": [{"name": k, "value": v} for k, v in probe_env(request).items()],
                "volumeMounts": [{"name": "probe", "mountPath": "/probe", "readOnly": True}],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            }
        ],
        "volumes": [{"name": "probe", "configMap": {"name": name}}],
    }
    if request.service_account:
        pod_labels[WORKLOAD_IDENTITY_LABEL] = "true"
        pod_spec["serviceAccountName"] = request.service_account
    elif request.selector:
        pod_labels[AAD_POD_IDENTITY_LABEL] = request.selector
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": request.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(int(request.timeout_s), 1),
            "ttlSecondsAfterFinished": 600,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }


def probe_env(request: ProbeRequest) -> dict[str, str]:
    return {
        "PROBE_DFS_ENDPOINT": request.dfs_endpoint,
        "PROBE_FILESYSTEM": request.filesystem,
        "PROBE_DIRECTORY": request.directory,
        "PROBE_FILE": request.file,
        "PROBE_CLIENT_ID": request.client_id,
        "PROBE_RESOURCE_ID": request.resource_id,
        "PROBE_AUDIENCE": request.audience,
        "PROBE_TIMEOUT_S": "30",
    }


def job_phase(job: dict[str, Any]) -> str | None:
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    if status.get("succeeded"):
        return "Complete"
    if status.get("failed"):
        return "Failed"
    return None


def parse_result(log: str) -> dict[str, Any] | None:
    """The probe's JSON line (the last line that parses as an object with an ``ok`` key)."""
    for line in reversed(log.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "ok" in value:
            return value
    return None


def watch_failure(exc: ApiException, *, customer: str, step: str, action: str) -> OnboardingError | None:
    """None when reading the Job again may get past a failed watch (410 Gone, 429, 5xx, a conflict); otherwise
    the product's error for it (401/403 and the other refusals), naming the customer and step."""
    if exc.status == EXPIRED:
        return None
    error = from_kubernetes(exc.status or 0, reason_of(exc), customer=customer, step=step, action=action)
    return None if is_transient(error) else error


def wait_for_job(
    api: ApiClient, *, name: str, namespace: str, timeout_s: float, customer: str, step: str
) -> str:
    """Complete / Failed / Timeout. Watches the Job; if the watch breaks, polls with bounded backoff."""
    batch = BatchV1Api(api)
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        with kube_errors(customer=customer, step=step, action=f"read Job {namespace}/{name}"):
            job = to_dict(api, batch.read_namespaced_job(name, namespace))
        phase = job_phase(job)
        if phase:
            return phase
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "Timeout"
        version = (job.get("metadata") or {}).get("resourceVersion")
        w = watch.Watch()
        try:
            for event in w.stream(
                batch.list_namespaced_job,
                namespace,
                label_selector=f"{RUN_LABEL}={name}",
                resource_version=version,
                timeout_seconds=max(1, int(min(remaining, WATCH_SLICE_S))),
            ):
                obj = to_dict(api, event["object"])
                if (obj.get("metadata") or {}).get("name") == name and job_phase(obj):
                    w.stop()
                    return str(job_phase(obj))
            delay = 0.2  # the watch ran its slice: read again
        except (ApiException, urllib3.exceptions.HTTPError, ValueError, OSError) as exc:
            # 410 Gone, a 5xx or a broken stream: fall back to reading with backoff; a refusal is raised
            if isinstance(exc, ApiException):
                action = f"watch Job {namespace}/{name}"
                refused = watch_failure(exc, customer=customer, step=step, action=action)
                if refused is not None:
                    raise refused from None
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 5.0)
        finally:
            w.stop()


def read_probe_log(api: ApiClient, *, name: str, namespace: str, customer: str, step: str) -> str:
    core = CoreV1Api(api)
    with kube_errors(customer=customer, step=step, action=f"list pods of Job {namespace}/{name}"):
        pods = core.list_namespaced_pod(namespace, label_selector=f"{RUN_LABEL}={name}").items
    logs = []
    for pod in pods:
        with kube_errors(customer=customer, step=step, action=f"read log of pod {pod.metadata.name}"):
            # kubernetes 36.x turns preloaded logs into "b'...'": read the raw response instead
            response = core.read_namespaced_pod_log(
                pod.metadata.name, namespace, container="probe", _preload_content=False
            )
            logs.append(response.data.decode("utf-8", "replace"))
    return "\n".join(logs)


def cleanup(api: ApiClient, *, name: str, namespace: str) -> None:
    """Delete the Job (Background propagation), its pods and the ConfigMap; missing ones are fine."""
    batch, core = BatchV1Api(api), CoreV1Api(api)

    def ignore_missing(call: Callable[[], Any]) -> None:
        try:
            call()
        except ApiException as exc:
            if exc.status != 404:
                raise

    ignore_missing(lambda: batch.delete_namespaced_job(name, namespace, propagation_policy="Background"))
    ignore_missing(lambda: core.delete_namespaced_config_map(name, namespace))
    # Background propagation lets the garbage collector remove the pods; remove them now all the same
    pods = core.list_namespaced_pod(namespace, label_selector=f"{RUN_LABEL}={name}").items
    for pod in pods:
        ignore_missing(functools.partial(core.delete_namespaced_pod, pod.metadata.name, namespace))


def _age_s(obj: dict[str, Any], now: datetime) -> float:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return 0.0
    return (now - datetime.fromisoformat(str(created).replace("Z", "+00:00"))).total_seconds()


def stale_probe_runs(
    jobs: list[dict[str, Any]], others: list[dict[str, Any]], *, now: datetime, keep: str | None = None
) -> list[str]:
    """Probe runs (``RUN_LABEL`` values) nobody will clean up: a Job that finished (a live run removes its own
    at once) or outlived ``activeDeadlineSeconds`` plus the grace; a ConfigMap or pod whose Job is gone, past the
    grace (a live run creates the Job right after its ConfigMap). ``keep``: the caller's own run."""
    stale: set[str] = set()
    live: set[str] = set()
    for job in jobs:
        run = ((job.get("metadata") or {}).get("labels") or {}).get(RUN_LABEL)
        deadline = float((job.get("spec") or {}).get("activeDeadlineSeconds") or 0)
        if run and run != keep:
            (stale if job_phase(job) or _age_s(job, now) > deadline + ORPHAN_GRACE_S else live).add(run)
    for obj in others:
        run = ((obj.get("metadata") or {}).get("labels") or {}).get(RUN_LABEL)
        if run and run != keep and run not in live and _age_s(obj, now) > ORPHAN_GRACE_S:
            stale.add(run)
    return sorted(stale)


def tidy(what: str, call: Callable[[], Any], *, customer: str, step: str) -> bool:
    """Run one sweep or cleanup call; a failure must not replace the probe's outcome, so it is logged (what was
    not cleaned, why) and left to the next probe run's sweep. True when the call succeeded."""
    try:
        with kube_errors(customer=customer, step=step, action=what):
            try:
                call()
            except OSError as exc:  # below urllib3 (TLS, sockets); kube_errors maps connection errors only
                raise TransientError(
                    f"{what}: {type(exc).__name__}: {exc}", customer=customer, step=step
                ) from None
    except OnboardingError as exc:
        logger.warning("not cleaned up now, the next probe run's sweep retries it: %s", exc)
        return False
    return True


def sweep_stale_probes(
    api: ApiClient, *, namespace: str, customer: str, step: str, keep: str | None = None
) -> list[str]:
    """Remove the probe objects earlier runs of this customer left in the namespace; returns the runs removed.
    Never raises: what cannot be listed or removed is logged (see ``tidy``)."""
    batch, core = BatchV1Api(api), CoreV1Api(api)
    selector = f"{CUSTOMER_LABEL}={customer},{RUN_LABEL}"
    listed: dict[str, list[Any]] = {}

    def list_probe_objects() -> None:
        listed["jobs"] = batch.list_namespaced_job(namespace, label_selector=selector).items
        listed["others"] = [
            *core.list_namespaced_config_map(namespace, label_selector=selector).items,
            *core.list_namespaced_pod(namespace, label_selector=selector).items,
        ]

    if not tidy(f"list earlier probe runs in {namespace}", list_probe_objects, customer=customer, step=step):
        return []
    jobs = [to_dict(api, j) for j in listed["jobs"]]
    others = [to_dict(api, o) for o in listed["others"]]
    stale = stale_probe_runs(jobs, others, now=datetime.now(UTC), keep=keep)
    return [
        run
        for run in stale
        if remove_probe_run(api, run=run, namespace=namespace, customer=customer, step=step)
    ]


def remove_probe_run(api: ApiClient, *, run: str, namespace: str, customer: str, step: str) -> bool:
    """``cleanup`` of one probe run, best effort (see ``tidy``); True when it is gone."""
    return tidy(
        f"remove probe run {namespace}/{run} (Job, pods, ConfigMap)",
        functools.partial(cleanup, api, name=run, namespace=namespace),
        customer=customer,
        step=step,
    )


def run_probe(
    api: ApiClient, request: ProbeRequest, *, customer: str, step: str, run_id: str | None = None
) -> ProbeOutcome:
    """Run the probe Job once and return what it printed; always cleans up after itself (and after earlier runs
    that could not, see the module doc)."""
    name = job_name(run_id)
    core, batch = CoreV1Api(api), BatchV1Api(api)
    started = time.monotonic()
    sweep_stale_probes(api, namespace=request.namespace, customer=customer, step=step, keep=name)
    try:
        with kube_errors(
            customer=customer, step=step, action=f"create probe ConfigMap {request.namespace}/{name}"
        ):
            core.create_namespaced_config_map(
                request.namespace,
                configmap_body(name, namespace=request.namespace, customer=customer, run_label=name),
            )
        with kube_errors(customer=customer, step=step, action=f"create probe Job {request.namespace}/{name}"):
            batch.create_namespaced_job(request.namespace, job_body(name, request, customer=customer))
        phase = wait_for_job(
            api,
            name=name,
            namespace=request.namespace,
            timeout_s=request.timeout_s,
            customer=customer,
            step=step,
        )
        seconds = time.monotonic() - started
        log = read_probe_log(api, name=name, namespace=request.namespace, customer=customer, step=step)
        return ProbeOutcome(
            job=name, phase=phase, result=parse_result(log), log_tail=log[-2000:], seconds=seconds
        )
    finally:
        remove_probe_run(api, run=name, namespace=request.namespace, customer=customer, step=step)
        sweep_stale_probes(api, namespace=request.namespace, customer=customer, step=step)
