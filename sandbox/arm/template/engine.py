"""Executes an ARM template at a resource group as ARM does.

Validation first (parameters against their declarations, every expression parsed and every function known,
resource names against their types, resource types the sandbox serves, dependsOn targets and cycles), then the
resources in ``dependsOn`` order (plus the implicit dependency ``reference('<name>')`` declares), each through the
ARM handlers (``dispatch.Dispatcher``), nested ``Microsoft.Resources/deployments`` as deployments of their own
at their ``resourceGroup``/``subscriptionId``, then the outputs. Incremental mode only.

Error wording follows ARM's (Microsoft Learn "Troubleshoot common Azure deployment errors" and the error bodies in
azure-cli recordings); see docs/sandbox-internals.md for the sources and the differences.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ...state import Principal, World, key
from ..base import ArmError, may, rg_id
from . import records
from .dispatch import Dispatcher
from .expressions import (
    Call,
    Index,
    Node,
    Property,
    TemplateError,
    evaluate,
    evaluate_node,
    function_calls,
    is_expression,
    parse,
)
from .functions import find
from .parameters import check_parameter, invalid_template, type_label
from .resources import resource_id, segments_match, write_action
from .scope import TemplateScope

Path = tuple[str | int, ...]
Positions = dict[Path, tuple[int, int]]
# Keys of a template resource that are about the deployment, not the resource body sent to its provider.
_DEPLOYMENT_KEYS = {
    "type",
    "apiversion",
    "name",
    "dependson",
    "condition",
    "copy",
    "comments",
    "resourcegroup",
    "subscriptionid",
    "scope",
    "metadata",
}
FAILED_MESSAGE = (
    "At least one resource deployment operation failed. Please list deployment operations for details. "
    "Please see https://aka.ms/arm-deployment-operations for usage details."
)


class DeploymentFailed(Exception):
    """A deployment that ended Failed; ``error`` is ARM's error object for it."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "deployment failed"))
        self.error = error

    def as_arm_error(self) -> ArmError:
        """The same error as an LRO or a parent's deployment operation reports it."""
        return ArmError(400, self.error["code"], self.error["message"], details=self.error.get("details"))


@dataclass
class Run:
    """What every template of one deployment tree shares."""

    world: World
    dispatcher: Dispatcher
    principal: Principal
    tenant_id: str
    positions: Positions = field(default_factory=dict)

    def at(self, path: Path) -> str:
        line, column = self.positions.get(path, (1, 1))
        return f"at line '{line}' and column '{column}'"


@dataclass
class Instance:
    """One resource of the template after copy expansion: where it goes and what it depends on."""

    index: int
    path: Path
    raw: dict[str, Any]
    type: str
    name: str
    id: str
    copy: dict[str | None, int]
    depends_on: set[int] = field(default_factory=set)

    @property
    def is_deployment(self) -> bool:
        return self.type.lower() == records.DEPLOYMENT_TYPE.lower()


def unknown_function(node: Node) -> str | None:
    """The first function an expression calls that ARM does not have (the engine refuses it at validation)."""
    if isinstance(node, Call):
        if find(node.name) is None:
            return node.name
        return next((n for n in map(unknown_function, node.args) if n), None)
    if isinstance(node, Property):
        return unknown_function(node.target)
    if isinstance(node, Index):
        return unknown_function(node.target) or unknown_function(node.index)
    return None


class TemplateDeployment:
    """One template deployed at one resource group (a top-level deployment, or a nested one)."""

    def __init__(
        self,
        run: Run,
        *,
        record: dict[str, Any],
        subscription_id: str,
        resource_group: str,
        template: dict[str, Any],
        parameters: dict[str, Any],
        path: Path,
        outer: TemplateDeployment | None = None,
    ) -> None:
        self.run = run
        self.record = record
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.template = template
        self.provided = parameters
        self.path = path
        self.outer = outer
        self.instances: list[Instance] = []
        self.scope: TemplateScope = outer.scope if outer is not None else self._new_scope({})

    # --- validation ---------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Everything ARM checks before it deploys anything; ``ArmError`` (400 InvalidTemplate) otherwise."""
        if not isinstance(self.template, dict) or not isinstance(self.template.get("resources", []), list):
            raise invalid_template("The template must be a JSON object with a 'resources' array.")
        self._check_expressions(self.template, self.path)
        if self.outer is None:
            self.scope = self._new_scope(self._parameter_values())
        elif self.template.get("parameters") or self.template.get("variables"):
            raise invalid_template(
                "A nested template with expression evaluation scope 'outer' cannot declare parameters or "
                "variables: set properties.expressionEvaluationOptions.scope to 'inner'."
            )
        self.instances = self._expand()
        self._resolve_dependencies()
        self._check_authorization()

    def _new_scope(self, parameters: dict[str, Any]) -> TemplateScope:
        return TemplateScope(
            self.run.world,
            subscription_id=self.subscription_id,
            resource_group=self.resource_group,
            deployment={
                "name": self.record["name"],
                "properties": {
                    "template": {"contentVersion": self.template.get("contentVersion", "1.0.0.0")},
                    "mode": "Incremental",
                    "provisioningState": "Running",
                },
            },
            parameters=parameters,
            variables=self.template.get("variables") or {},
            reference=self._reference,
            list_action=self._list_action,
        )

    def _check_expressions(self, value: Any, path: Path) -> None:
        """Parse every expression of this template (not of nested ones with inner scope: they are checked when
        they deploy) so that a syntax error or an unknown function fails validation with its line."""
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "template" and isinstance(v, dict) and path[-1:] == ("properties",):
                    continue
                self._check_expressions(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._check_expressions(v, (*path, i))
        elif isinstance(value, str) and is_expression(value):
            try:
                unknown = unknown_function(parse(value))
                if unknown:
                    raise TemplateError(
                        f"The template function '{unknown}' is not valid. Please see https://aka.ms/arm-functions "
                        "for usage details."
                    )
            except TemplateError as exc:
                raise invalid_template(
                    f"The template expression {self.run.at(path)} is not valid: {exc.message}"
                ) from exc

    def _parameter_values(self) -> dict[str, Any]:
        declared = self.template.get("parameters") or {}
        declared_lower = {k.lower(): k for k in declared}
        extra = [k for k in self.provided if k.lower() not in declared_lower]
        if extra:
            raise invalid_template(
                f"The template parameters '{', '.join(extra)}' in the parameters file are not valid; they are not "
                "present in the original template and can therefore not be provided at deployment time. The only "
                f"supported parameters for this template are '{', '.join(declared)}'. Please see "
                "https://aka.ms/arm-pass-parameter-values for usage details."
            )
        provided = {k.lower(): v for k, v in self.provided.items()}
        values: dict[str, Any] = {}
        scope = self._new_scope(values)
        for name, decl in declared.items():
            where = self.run.at((*self.path, "parameters", name))
            entry = provided.get(name.lower())
            if isinstance(entry, dict) and "reference" in entry:
                raise invalid_template(
                    f"The parameter '{name}' is a Key Vault reference; the sandbox has no Key Vault."
                )
            if isinstance(entry, dict) and "value" in entry:
                value = entry["value"]
            elif "defaultValue" in decl:
                try:
                    value = evaluate(decl["defaultValue"], scope, in_parameter_default=True)
                except TemplateError as exc:
                    raise invalid_template(
                        f"The template parameter '{name}' {where} is not valid: {exc.message}"
                    ) from exc
            else:
                raise invalid_template(
                    f"The value for the template parameter '{name}' {where} is not provided. Please see "
                    "https://aka.ms/arm-create-parameter-file for usage details."
                )
            check_parameter(name, decl, value, where)
            values[name] = value
            scope._parameters[name.lower()] = value
        return values

    def _expand(self) -> list[Instance]:
        instances: list[Instance] = []
        for i, raw in enumerate(self.template.get("resources") or []):
            path = (*self.path, "resources", i)
            if not isinstance(raw, dict) or not raw.get("type") or not raw.get("name"):
                raise invalid_template(
                    f"The template resource {self.run.at(path)} must have a 'type' and a 'name'."
                )
            copy = raw.get("copy")
            if copy is None:
                instances.append(self._instance(len(instances), path, raw, {}))
                continue
            loop = str(copy.get("name", ""))
            count = self._eval(copy.get("count"), path, raw)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0 or count > 800:
                raise invalid_template(
                    f"The template resource '{raw['name']}' {self.run.at(path)} is not valid: the copy count "
                    f"must be an integer 0..800, not '{count}'."
                )
            for n in range(count):
                instances.append(self._instance(len(instances), path, raw, {None: n, loop.lower(): n}))
        return instances

    def _eval(
        self, value: Any, path: Path, raw: dict[str, Any], copy: dict[str | None, int] | None = None
    ) -> Any:
        saved = dict(self.scope.copy_indexes)
        self.scope.copy_indexes.update(copy or {})
        try:
            return evaluate(value, self.scope)
        except TemplateError as exc:
            raise invalid_template(
                f"The template resource '{raw.get('name')}' {self.run.at(path)} is not valid: {exc.message}"
            ) from exc
        finally:
            self.scope.copy_indexes = saved

    def _instance(self, index: int, path: Path, raw: dict[str, Any], copy: dict[str | None, int]) -> Instance:
        type_name = str(raw["type"])
        name = str(self._eval(raw["name"], path, raw, copy))
        if not segments_match(type_name, name):
            raise invalid_template(
                f"The template resource '{name}' for type '{type_name}' {self.run.at(path)} has incorrect segment "
                "lengths. A nested resource type must have identical number of segments as its resource name. A "
                "root resource type must have segment length one greater than its resource name. Please see "
                "https://aka.ms/arm-syntax-resources for usage details."
            )
        sub, rg = self.subscription_id, self.resource_group
        if type_name.lower() == records.DEPLOYMENT_TYPE.lower():
            sub = str(self._eval(raw.get("subscriptionId", sub), path, raw, copy))
            rg = str(self._eval(raw.get("resourceGroup", rg), path, raw, copy))
        scope = self._eval(raw["scope"], path, raw, copy) if "scope" in raw else None
        rid = resource_id(sub, rg, type_name, name, scope)
        if (
            not self.run.dispatcher.serves("PUT", rid)
            and type_name.lower() != records.DEPLOYMENT_TYPE.lower()
        ):
            namespace, _, rest = type_name.partition("/")
            raise invalid_template(
                f"The template resource '{name}' {self.run.at(path)} is not valid: The resource type '{rest}' could "
                f"not be found in the namespace '{namespace}' for api version '{raw.get('apiVersion')}' (the sandbox "
                "does not serve it)."
            )
        return Instance(index, path, raw, type_name, name, rid, copy)

    def _resolve_dependencies(self) -> None:
        for inst in self.instances:
            for entry in inst.raw.get("dependsOn") or []:
                target = str(self._eval(entry, (*inst.path, "dependsOn"), inst.raw, inst.copy))
                found = self._find(target)
                if not found:
                    raise invalid_template(
                        f"The resource '{target}' is not defined in the template. Please see "
                        "https://aka.ms/arm-syntax for usage details."
                    )
                inst.depends_on |= {f.index for f in found}
            # reference('<name>') to a resource of this template is an implicit dependency (by name only).
            for call in function_calls(inst.raw, {"reference"}):
                try:
                    named = evaluate_node(call.args[0], self.scope) if call.args else None
                except TemplateError:
                    continue
                if isinstance(named, str) and not named.startswith("/"):
                    inst.depends_on |= {f.index for f in self._find(named)}
            inst.depends_on.discard(inst.index)
        self._order()

    def _check_authorization(self) -> None:
        """ARM's preflight: the deploying principal may write every resource (InvalidTemplateDeployment)."""
        principal = self.run.principal
        for inst in self.instances:
            action = write_action(inst.id)
            if not may(self.run.world, principal, action, inst.id):
                raise ArmError(
                    400,
                    "InvalidTemplateDeployment",
                    f"The template deployment failed with error: 'Authorization failed for template resource "
                    f"'{inst.name}' of type '{inst.type}'. The client '{principal.client_id}' with object id "
                    f"'{principal.object_id}' does not have permission to perform action '{action}' at scope "
                    f"'{inst.id}'.'.",
                )

    def _find(self, target: str) -> list[Instance]:
        """Template resources a dependsOn entry or a reference names: id, ``type/name``, or name."""
        t = target.lower().rstrip("/")
        return [
            i
            for i in self.instances
            if key(i.id) == t
            or i.name.lower() == t
            or f"{i.type}/{i.name}".lower() == t
            or (i.raw.get("copy") or {}).get("name", "").lower() == t
        ]

    def _order(self) -> list[Instance]:
        done: list[Instance] = []
        state: dict[int, str] = {}

        def visit(inst: Instance) -> None:
            if state.get(inst.index) == "done":
                return
            if state.get(inst.index) == "visiting":
                raise invalid_template(
                    f"Circular dependency detected on resource: '{inst.id}'. Please see "
                    "https://aka.ms/arm-syntax-resources for usage details."
                )
            state[inst.index] = "visiting"
            for dep in sorted(inst.depends_on):
                visit(self.instances[dep])
            state[inst.index] = "done"
            done.append(inst)

        for inst in self.instances:
            visit(inst)
        return done

    # --- execution ----------------------------------------------------------------------------------------
    def run_to_end(self, *, validated: bool = False) -> dict[str, Any]:
        """Validate (unless done already), execute, and record the outcome on ``self.record``: its outputs, or
        its error, raised as ARM's error."""
        try:
            if not validated:
                self.validate()
            self.record["properties"]["provisioningState"] = "Running"
            outputs = self.execute()
        except ArmError as exc:
            records.finish_record(self.record, error=exc.as_error())
            raise
        except DeploymentFailed as exc:
            records.finish_record(self.record, error=exc.error)
            raise exc.as_arm_error() from exc
        records.finish_record(self.record, outputs=outputs)
        return outputs

    def execute(self) -> dict[str, Any]:
        """Deploy every resource in order, then evaluate the outputs; ``DeploymentFailed`` on the first failure."""
        for inst in self._order():
            if "condition" in inst.raw and not self._eval(
                inst.raw["condition"], inst.path, inst.raw, inst.copy
            ):
                continue
            started = time.time()
            try:
                status = self._deploy(inst)
            except ArmError as exc:
                records.add_operation(
                    self.record,
                    target_id=inst.id,
                    target_type=inst.type,
                    started=started,
                    status=exc.status,
                    error=exc.as_error(),
                )
                raise DeploymentFailed(
                    {"code": "DeploymentFailed", "message": FAILED_MESSAGE, "details": [exc.as_error()]}
                ) from exc
            records.add_operation(
                self.record, target_id=inst.id, target_type=inst.type, started=started, status=status
            )
        return self._outputs()

    def _deploy(self, inst: Instance) -> int:
        if inst.is_deployment:
            return self._deploy_nested(inst)
        body = {k: v for k, v in inst.raw.items() if k.lower() not in _DEPLOYMENT_KEYS}
        body = self._eval(body, inst.path, inst.raw, inst.copy)
        status, _ = self.run.dispatcher.put_and_wait(
            inst.id,
            body,
            self.run.principal,
            self.run.tenant_id,
            api_version=str(inst.raw.get("apiVersion") or "2024-01-01"),
        )
        return status

    def _deploy_nested(self, inst: Instance) -> int:
        props = inst.raw.get("properties") or {}
        options = props.get("expressionEvaluationOptions") or {}
        inner = str(options.get("scope", "outer")).lower() == "inner"
        template = props.get("template")
        if not isinstance(template, dict):
            raise ArmError(
                400,
                "InvalidTemplate",
                f"The nested deployment '{inst.name}' needs an inline 'template' (templateLink is not served by "
                "the sandbox).",
            )
        mode = str(self._eval(props.get("mode", "Incremental"), inst.path, inst.raw, inst.copy))
        parameters = self._eval(props.get("parameters") or {}, inst.path, inst.raw, inst.copy)
        sub, rg = inst.id.split("/")[2], inst.id.split("/")[4]
        return run_nested(
            self.run,
            subscription_id=sub,
            resource_group=rg,
            name=inst.name,
            template=template,
            parameters=parameters if inner else {},
            mode=mode,
            path=(*inst.path, "properties", "template"),
            outer=None if inner else self,
        )

    def _outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for name, decl in (self.template.get("outputs") or {}).items():
            path = (*self.path, "outputs", name)
            try:
                if "condition" in decl and not evaluate(decl["condition"], self.scope):
                    continue
                value = evaluate(decl.get("value"), self.scope)
            except TemplateError as exc:
                raise DeploymentFailed(
                    {
                        "code": "DeploymentOutputEvaluationFailed",
                        "message": f"Unable to evaluate template outputs: '{name}'. Please see error details and "
                        "deployment operations. Please see https://aka.ms/arm-common-errors for usage details.",
                        "details": [
                            {
                                "code": "DeploymentOutputEvaluationFailed",
                                "message": f"The template output '{name}' {self.run.at(path)} is not valid: "
                                f"{exc.message}.",
                            }
                        ],
                    }
                ) from exc
            outputs[name] = {"type": type_label(str(decl.get("type", "string"))), "value": value}
        return outputs

    # --- reference() and list*() ------------------------------------------------------------------------------
    def _reference(self, resource: str, api_version: str | None, full: bool) -> Any:
        target = self._resolve_reference(resource)
        response = self.run.dispatcher.send(
            "GET", target, self.run.principal, self.run.tenant_id, api_version=api_version or "2024-01-01"
        )
        body = response.body if isinstance(response.body, dict) else {}
        if response.status >= 400:
            error = body.get("error") or {}
            raise TemplateError(
                f"The resource '{target}' is not defined in the template and could not be read: "
                f"{error.get('code')}: {error.get('message')}"
            )
        return body if full else body.get("properties", {})

    def _resolve_reference(self, resource: str) -> str:
        if resource.startswith("/"):
            return resource
        owner: TemplateDeployment | None = self
        while owner is not None:
            found = owner._find(resource)
            if found:
                return found[0].id
            owner = owner.outer
        raise TemplateError(
            f"The template reference '{resource}' is not valid: could not find template resource or resource copy "
            "with this name. Please see https://aka.ms/arm-function-reference for usage details."
        )

    def _list_action(self, resource_id: str, api_version: str, action: str, body: Any) -> Any:
        response = self.run.dispatcher.send(
            "POST",
            f"{resource_id.rstrip('/')}/{action}",
            self.run.principal,
            self.run.tenant_id,
            body=body,
            api_version=api_version,
        )
        return response.body


def run_nested(
    run: Run,
    *,
    subscription_id: str,
    resource_group: str,
    name: str,
    template: dict[str, Any],
    parameters: dict[str, Any],
    mode: str,
    path: Path,
    outer: TemplateDeployment | None,
) -> int:
    """A nested deployment: its own record at its resource group, validated and executed; 201 when it succeeds."""
    if run.world.get(rg_id(subscription_id, resource_group)) is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")
    record = deploy_record(run.world, subscription_id, resource_group, name, template, parameters, mode=mode)
    child = TemplateDeployment(
        run,
        record=record,
        subscription_id=subscription_id,
        resource_group=resource_group,
        template=template,
        parameters=parameters,
        path=path,
        outer=outer,
    )
    child.run_to_end()
    return 201


def deploy_record(
    world: World,
    subscription_id: str,
    resource_group: str,
    name: str,
    template: dict[str, Any],
    parameters: dict[str, Any],
    *,
    mode: str,
) -> dict[str, Any]:
    """Store a new deployment record (replacing one of the same name, as a redeployment does)."""
    if mode.lower() != "incremental":
        raise ArmError(
            400,
            "InvalidDeploymentMode",
            f"The deployment mode '{mode}' is not served by the sandbox: it implements Incremental only.",
        )
    shown = {}
    declared = {k.lower(): v for k, v in (template.get("parameters") or {}).items()}
    for pname, entry in parameters.items():
        declared_type = str((declared.get(pname.lower()) or {}).get("type", "string"))
        value = entry.get("value") if isinstance(entry, dict) else entry
        secure = declared_type.lower().startswith("secure")
        shown[pname] = {"type": type_label(declared_type)} | ({} if secure else {"value": value})
    record = records.new_record(
        records.deployment_id(subscription_id, resource_group, name), template, shown, mode=mode.capitalize()
    )
    return world.put(record)
