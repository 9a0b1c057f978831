"""Microsoft.Resources/deployments at resource group scope: PUT (an LRO), validate, GET, list, DELETE,
operations, and the operation status monitor (what ``az deployment group create`` drives).

Exchanges as recorded by the Azure CLI against Azure (``command_modules/resource/tests/latest/recordings/
test_group_deployment_lite.yaml``): POST ``validate`` answers 200 with the deployment, PUT answers 201 with
provisioningState Accepted and an ``Azure-AsyncOperation`` header under ``{deployment}/operationStatuses/``,
GET of that answers ``{"status": ...}``, then GET of the deployment.
"""

from __future__ import annotations

from typing import Any

from ..httpd import Response, json_response
from .base import RG, ArmError, ArmRouter, Call, paged, public, require, require_rg, require_write
from .lro import Operations
from .template import records
from .template.dispatch import Dispatcher
from .template.engine import Run, TemplateDeployment, deploy_record
from .template.jsonpos import loads_with_positions

DEPLOYMENTS = RG + r"/providers/Microsoft\.Resources/deployments"
# Deployment operations keep ARM's older path without the provider segment (resources.json in the REST specs).
LEGACY_DEPLOYMENTS = RG + r"/deployments"
READ = f"{records.DEPLOYMENT_TYPE}/read"
WRITE = f"{records.DEPLOYMENT_TYPE}/write"


def _deployment_id(call: Call) -> str:
    return records.deployment_id(call.params["sub"], call.params["rg"], call.params["name"])


def _request(
    call: Call,
) -> tuple[dict[str, Any], dict[str, Any], str, dict[tuple[str | int, ...], tuple[int, int]]]:
    """(template, parameters, mode, positions of the template's values in the request body)."""
    props = call.body().get("properties") or {}
    template = props.get("template")
    if not isinstance(template, dict):
        if props.get("templateLink"):
            raise ArmError(
                400, "InvalidTemplate", "templateLink is not served by the sandbox: send the template inline."
            )
        raise ArmError(400, "InvalidRequestContent", "The request content must have properties.template.")
    try:
        _, body_positions = loads_with_positions(call.request.body.decode("utf-8"))
    except ValueError:
        body_positions = {}
    positions = {
        path[2:]: at for path, at in body_positions.items() if path[:2] == ("properties", "template")
    }
    parameters = props.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ArmError(400, "InvalidRequestContent", "properties.parameters must be an object.")
    return template, parameters, str(props.get("mode") or "Incremental"), positions


class DeploymentRoutes:
    def __init__(self, dispatcher: Dispatcher, ops: Operations) -> None:
        self.dispatcher = dispatcher
        self.ops = ops

    def _prepared(self, call: Call) -> tuple[TemplateDeployment, dict[str, Any]]:
        require_rg(call)
        require_write(call, WRITE, _deployment_id(call))
        template, parameters, mode, positions = _request(call)
        run = Run(call.world, self.dispatcher, call.principal, call.tenant_id, positions)
        record = records.new_record(_deployment_id(call), template, {}, mode=mode)
        deployment = TemplateDeployment(
            run,
            record=record,
            subscription_id=call.params["sub"],
            resource_group=call.params["rg"],
            template=template,
            parameters=parameters,
            path=(),
        )
        deployment.validate()
        return deployment, {"parameters": parameters, "mode": mode}

    def validate(self, call: Call) -> Response:
        deployment, _ = self._prepared(call)
        body = public(deployment.record)
        body["properties"] = dict(body["properties"], provisioningState="Succeeded")
        body["properties"]["validatedResources"] = [{"id": i.id} for i in deployment.instances]
        return json_response(body, 200)

    def put(self, call: Call) -> Response:
        deployment, request = self._prepared(call)
        with call.world.lock:
            record = deploy_record(
                call.world,
                call.params["sub"],
                call.params["rg"],
                call.params["name"],
                deployment.template,
                request["parameters"],
                mode=request["mode"],
            )
            deployment.record = record

        op = self.ops.start_thread("deployment.put", lambda: deployment.run_to_end(validated=True))
        status_url = f"{call.base_url}{record['id']}/operationStatuses/{op.id}?api-version=2024-03-01"
        return json_response(public(record), 201, **{"Azure-AsyncOperation": status_url})

    def get(self, call: Call) -> Response:
        require(call, READ, _deployment_id(call))
        return json_response(public(self._record(call)))

    def list(self, call: Call) -> Response:
        rg = require_rg(call)
        require(call, READ, rg["id"])
        return paged(call, call.world.children(rg["id"], records.DEPLOYMENT_TYPE))

    def delete(self, call: Call) -> Response:
        require_write(call, f"{records.DEPLOYMENT_TYPE}/delete", _deployment_id(call))
        with call.world.lock:
            found = call.world.delete(_deployment_id(call))
        return Response(status=202 if found else 204)

    def operations(self, call: Call) -> Response:
        require(call, READ, _deployment_id(call))
        return paged(call, list(self._record(call)["_sandbox"]["operations"]))

    def operation(self, call: Call) -> Response:
        require(call, READ, _deployment_id(call))
        for op in self._record(call)["_sandbox"]["operations"]:
            if op["operationId"].lower() == call.params["op"].lower():
                return json_response(op)
        raise ArmError(
            404, "DeploymentOperationNotFound", f"Deployment operation '{call.params['op']}' not found."
        )

    def status(self, call: Call) -> Response:
        return self.ops.status(call)

    def _record(self, call: Call) -> dict[str, Any]:
        require_rg(call)
        record = call.world.get(_deployment_id(call))
        if record is None:
            raise ArmError(
                404, "DeploymentNotFound", f"Deployment '{call.params['name']}' could not be found."
            )
        return record

    def register(self, router: ArmRouter) -> None:
        one = DEPLOYMENTS + r"/(?P<name>[^/]+)"
        router.add("GET", DEPLOYMENTS, self.list)
        router.add("GET", one, self.get)
        router.add("PUT", one, self.put)
        router.add("DELETE", one, self.delete)
        router.add("POST", one + r"/validate", self.validate)
        for prefix in (DEPLOYMENTS, LEGACY_DEPLOYMENTS):
            router.add("GET", prefix + r"/(?P<name>[^/]+)/operations", self.operations)
            router.add("GET", prefix + r"/(?P<name>[^/]+)/operations/(?P<op>[^/]+)", self.operation)
        router.add("GET", one + r"/operationStatuses/(?P<op>[^/]+)", self.status)


def register(router: ArmRouter, dispatcher: Dispatcher, ops: Operations) -> None:
    DeploymentRoutes(dispatcher, ops).register(router)
