"""The Job controller: one pod at a time per Job, retries up to backoffLimit, activeDeadlineSeconds.

Supports the shape the product uses (completions 1, parallelism 1, NonIndexed). Pods are named
``<job>-<5 chars>``, carry the template's labels plus ``job-name``/``controller-uid`` and an owner
reference to the Job. Status: active/succeeded/failed, startTime, completionTime and the conditions
``Complete`` or ``Failed`` (reason BackoffLimitExceeded or DeadlineExceeded) with status "True".
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..state import World
from .kubelet import PODS
from .resources import builtin
from .store import Event, Store, now_rfc3339, random_suffix

JOBS = builtin("Job")
TERMINAL = ("Succeeded", "Failed")


def controller_of(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in obj["metadata"].get("ownerReferences") or []
            if r.get("kind") == kind and r.get("controller")
        ),
        None,
    )


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_from_template(owner: dict[str, Any], name: str) -> dict[str, Any]:
    template = copy.deepcopy(owner["spec"].get("template", {}))
    meta = template.get("metadata", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": meta.get("labels", {}),
            "annotations": meta.get("annotations", {}),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": template.get("spec", {}),
    }


def _finished(job: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in job.get("status", {}).get("conditions", [])
    )


class JobController:
    def __init__(self, world: World, store: Store, enqueue: Callable[[Callable[[], None]], None]) -> None:
        self.world = world
        self.store = store
        self.enqueue = enqueue

    def handle(self, event: Event) -> None:
        if event.type == "DELETED":
            return
        if event.rtype.group_resource == JOBS.group_resource:
            self._sync(event.obj["metadata"]["namespace"], event.obj["metadata"]["name"])
        elif event.rtype.group_resource == PODS.group_resource:
            owner = controller_of(event.obj, "Job")
            if owner is not None:
                self._sync(event.obj["metadata"]["namespace"], owner["name"])

    def _pods(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        uid = job["metadata"]["uid"]
        pods, _ = self.store.list(
            PODS,
            job["metadata"]["namespace"],
            lambda p: any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or []),
        )
        return pods

    def _sync(self, namespace: str, name: str) -> None:
        job = self.store.find(JOBS, namespace, name)
        if job is None or _finished(job) or job["spec"].get("suspend"):
            return
        spec, status = job["spec"], copy.deepcopy(job.get("status") or {})
        pods = self._pods(job)
        phases = [p.get("status", {}).get("phase") for p in pods]
        active = sum(1 for ph in phases if ph not in TERMINAL)
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        now = now_rfc3339()
        if "startTime" not in status:
            status["startTime"] = now
            deadline = spec.get("activeDeadlineSeconds")
            if deadline:
                uid = job["metadata"]["uid"]
                self.world.scheduler.after(
                    float(deadline), lambda: self.enqueue(lambda: self._deadline(namespace, name, uid))
                )
        if succeeded >= spec.get("completions", 1):
            status["completionTime"] = now
            status["conditions"] = [self._condition("Complete", None, None, now)]
        elif failed > spec.get("backoffLimit", 6):
            status["conditions"] = [
                self._condition(
                    "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", now
                )
            ]
        elif active == 0:
            self.store.create(PODS, pod_from_template(job, f"{name}-{random_suffix()}"), namespace)
            active = 1
        status.update(
            active=active,
            succeeded=succeeded,
            failed=failed,
            ready=sum(1 for p in pods if p.get("status", {}).get("phase") == "Running"),
        )
        job["status"] = status
        job["metadata"].pop("resourceVersion", None)
        self.store.update(JOBS, job, status_only=True)

    @staticmethod
    def _condition(kind: str, reason: str | None, message: str | None, now: str) -> dict[str, Any]:
        cond: dict[str, Any] = {
            "type": kind,
            "status": "True",
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
        if reason:
            cond.update(reason=reason, message=message)
        return cond

    def _deadline(self, namespace: str, name: str, uid: str) -> None:
        job = self.store.find(JOBS, namespace, name)
        if job is None or job["metadata"]["uid"] != uid or _finished(job):
            return
        now = now_rfc3339()
        pods = self._pods(job)
        for pod in pods:
            if pod.get("status", {}).get("phase") not in TERMINAL:
                self.store.delete(PODS, namespace, pod["metadata"]["name"])
        status = job.setdefault("status", {})
        status.update(
            active=0,
            failed=status.get("failed", 0)
            + sum(1 for p in pods if p.get("status", {}).get("phase") not in TERMINAL),
        )
        status["conditions"] = [
            self._condition(
                "Failed", "DeadlineExceeded", "Job was active longer than specified deadline", now
            )
        ]
        job["metadata"].pop("resourceVersion", None)
        self.store.update(JOBS, job, status_only=True)
