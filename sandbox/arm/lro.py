"""Long-running operations: an operation store and the status endpoints ARMPolling follows.

``Azure-AsyncOperation`` points at ``/providers/Microsoft.Sandbox/operations/{id}`` ({"status": ...});
``Location`` (POST actions) at ``/providers/Microsoft.Sandbox/operationResults/{id}`` (202 while running,
then 200 with the result or 204).

No response carries ``Retry-After``: ARM's answers for these operations have none, neither the initial response
nor the status monitor while InProgress (Azure/azure-cli recordings: vm
test_vmss_explicit_msi.yaml (VMSS PATCH 200), acs test_aks_create_again_should_fail.yaml (managedClusters PUT
201), resource test_managedapp.yaml (Microsoft.Solutions/applications PUT 201), resource
test_group_deployment_lite.yaml (deployments PUT 201)). Clients then poll at their own interval (the SDK's
``polling_interval``, 30 s by default; the CLI's polls are 30 s apart in those recordings), so the profile's
durations are the only time knob and a fast profile never makes a poller wait. POST actions
(refreshPermissions) follow the same provider's PUT: no recording of their 202 was found.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import faults
from ..httpd import Response, json_response
from ..state import World
from .base import ArmError, ArmRouter, Call, now_iso

STATUS_PATH = "/providers/Microsoft.Sandbox/operations/"
RESULT_PATH = "/providers/Microsoft.Sandbox/operationResults/"


@dataclass
class Operation:
    id: str
    name: str
    status: str = "InProgress"
    error: dict[str, Any] | None = None
    result: Any = None
    started: float = field(default_factory=time.time)
    ended: float | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"{STATUS_PATH}{self.id}",
            "name": self.id,
            "status": self.status,
            "startTime": now_iso(self.started),
        }
        if self.ended is not None:
            body["endTime"] = now_iso(self.ended)
        if self.error:
            body["error"] = self.error
        return body


class Operations:
    def __init__(self, world: World) -> None:
        self.world = world
        self._ops: dict[str, Operation] = {}
        self._lock = threading.Lock()

    def start(
        self,
        name: str,
        delay_s: float,
        work: Callable[[], Any],
        *,
        target: str | None = None,
        undo: Callable[[], None] | None = None,
    ) -> Operation:
        """Run ``work`` after ``delay_s``; its return value is the result, an ArmError fails the operation.

        With a ``target`` (the resource id), a fault rule naming this operation (``faults.py``) fails it instead
        of running ``work``: ``undo`` then puts the resource back as it was before the request."""
        op = self._new(name)
        if target is None:
            self.world.scheduler.after(delay_s, lambda: self._complete(op, work))
            return op

        def work_or_fault() -> Any:
            rule = faults.for_world(self.world).match_operation(name, target)
            if rule is None:
                return work()
            if undo is not None:
                undo()
            raise ArmError(rule.status or 400, rule.code, rule.message)

        self.world.scheduler.after(delay_s, lambda: self._complete(op, work_or_fault))
        return op

    def start_thread(self, name: str, work: Callable[[], Any]) -> Operation:
        """Run ``work`` now on a thread of its own, for work that waits on other operations (a template
        deployment awaits its resources' LROs, which complete on the scheduler's one thread)."""
        op = self._new(name)
        threading.Thread(target=self._complete, args=(op, work), name=f"lro-{name}", daemon=True).start()
        return op

    def _new(self, name: str) -> Operation:
        op = Operation(id=str(uuid.uuid4()), name=name)
        with self._lock:
            self._ops[op.id] = op
        return op

    @staticmethod
    def _complete(op: Operation, work: Callable[[], Any]) -> None:
        try:
            op.result = work()
            op.status = "Succeeded"
        except ArmError as exc:
            op.error = {"code": exc.code, "message": exc.message, **exc.extra}
            op.status = "Failed"
        except Exception as exc:
            op.error = {"code": "InternalServerError", "message": f"sandbox error: {exc}"}
            op.status = "Failed"
            raise
        finally:
            op.ended = time.time()

    def get(self, op_id: str) -> Operation:
        with self._lock:
            op = self._ops.get(op_id.lower())
        if op is None:
            raise ArmError(404, "OperationNotFound", f"Operation '{op_id}' was not found.")
        return op

    def headers(self, call: Call, op: Operation, *, location: bool = False) -> dict[str, str]:
        headers = {"Azure-AsyncOperation": f"{call.base_url}{STATUS_PATH}{op.id}?api-version=2024-01-01"}
        if location:
            headers["Location"] = f"{call.base_url}{RESULT_PATH}{op.id}?api-version=2024-01-01"
        return headers

    def status(self, call: Call) -> Response:
        return json_response(self.get(call.params["op"]).as_json(), 200)

    def result(self, call: Call) -> Response:
        op = self.get(call.params["op"])
        if op.status == "InProgress":
            return json_response(None, 202, **self.headers(call, op, location=True))
        if op.status == "Failed" and op.error:
            raise ArmError(400, op.error["code"], op.error["message"], details=op.error.get("details"))
        return json_response(op.result, 200) if op.result is not None else Response(status=204)

    def register(self, router: ArmRouter) -> None:
        router.add("GET", r"/providers/Microsoft\.Sandbox/operations/(?P<op>[^/]+)", self.status)
        router.add("GET", r"/providers/Microsoft\.Sandbox/operationResults/(?P<op>[^/]+)", self.result)
