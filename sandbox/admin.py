"""The sandbox's admin API (plain HTTP on 127.0.0.1): request log, faults, timing, customers, principals,
AKS upgrade drift, node resource group lockdown and a JSON dump of the world. Test and demo plumbing, not Azure.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import admin_notifications, authz, seed
from . import faults as faults_mod
from .arm.authorization import assignment_body, platform_assign
from .arm.base import ArmError, public, resources_of_type, rg_id
from .arm.compute import VMSS_TYPE
from .arm.containerservice import MC_TYPE
from .arm.eventgrid_delivery import Chaos, broker_for
from .arm.managedapp import deploy
from .arm.resources import resource_group_body
from .arm.solutions import application_body
from .certs import CertPaths
from .httpd import HttpService, Request, Response, Router, json_response, router_app
from .state import Principal, Subscription, Tenant, World, key, new_guid

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_ROLE_NAMES = {r.role_name.lower(): r.id for r in authz.BUILTIN_ROLES}
DEFAULT_PLAN = {"name": "aks", "publisher": "sandbox-publisher", "product": "ama-aks", "version": "1.0.0"}


class BadRequest(Exception):
    pass


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"error": {"code": "BadRequest", "message": message}}, status)


def _body(request: Request) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _role_guid(role: str) -> str:
    guid = role.rstrip("/").rsplit("/", 1)[-1].lower()
    if guid in {r.id for r in authz.BUILTIN_ROLES}:
        return guid
    if role.lower() in _ROLE_NAMES:
        return _ROLE_NAMES[role.lower()]
    raise BadRequest(f"unknown role {role!r}")


class Admin:
    def __init__(self, world: World) -> None:
        self.world = world
        self.faults = faults_mod.for_world(world)
        self.profile = world.timing

    # --- request log ---
    def requests(self, request: Request) -> Response:
        since = int(request.q("since") or 0)
        with self.world.lock:
            entries = self.world.request_log[since:]
            total = len(self.world.request_log)
        return json_response(
            {"requests": [{"seq": since + i, **e} for i, e in enumerate(entries)], "next": total}
        )

    # --- faults and timing (throttle buckets, delays) ---
    def set_faults(self, request: Request) -> Response:
        rules = _body(request).get("rules")
        if not isinstance(rules, list):
            raise BadRequest("expected {'rules': [...]}")
        try:
            added = self.faults.set_rules(rules)
        except (TypeError, ValueError, re.error) as exc:
            raise BadRequest(str(exc)) from exc
        return json_response({"rules": [r.as_json() for r in added]})

    def get_faults(self, request: Request) -> Response:
        return json_response({"rules": [r.as_json() for r in self.faults.rules]})

    def clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return json_response({"rules": []})

    def set_timing(self, request: Request) -> Response:
        changes = _body(request)
        fields = set(self.profile.as_dict()) - {"name"}
        if set(changes) - fields:
            raise BadRequest(f"timing fields are {sorted(fields)}")
        try:
            self.world.timing = replace(
                self.world.timing, **{k: type(getattr(self.profile, k))(v) for k, v in changes.items()}
            )
        except (TypeError, ValueError) as exc:
            raise BadRequest(str(exc)) from exc
        self.faults.reset_buckets()
        return json_response(self.world.timing.as_dict())

    def reset_timing(self, request: Request) -> Response:
        self.world.timing = self.profile
        self.faults.reset_buckets()
        return json_response(self.world.timing.as_dict())

    # --- customers and principals ---
    def add_customer(self, request: Request) -> Response:
        body = _body(request)
        world = self.world
        publisher = world.publisher
        assert publisher is not None
        with world.lock:
            name = str(body.get("name") or f"customer-{len(world.subscriptions)}")
            if not _NAME.match(name):
                raise BadRequest(
                    f"customer name {name!r}: lower-case letters, digits and hyphens, at most 40"
                )
            tenant_id = str(body.get("tenant_id") or new_guid())
            sub_id = str(body.get("subscription_id") or new_guid())
            location = str(body.get("location") or seed.DEFAULT_LOCATION)
            if sub_id.lower() in {s.lower() for s in world.subscriptions}:
                return _bad(f"subscription {sub_id} already exists", 409)
            world.tenants.setdefault(tenant_id, Tenant(tenant_id, name))
            world.subscriptions[sub_id] = Subscription(sub_id, tenant_id, name)
            app_rg = world.put(resource_group_body(sub_id, f"{name}-app", location))
            ra = platform_assign(
                world,
                app_rg["id"],
                authz.CONTRIBUTOR,
                publisher.object_id,
                name=new_guid(),
                created_by="customer",
            )
            ra.created_at = ra.effective_at = time.time() - 3600
        result: dict[str, Any] = {
            "name": name,
            "tenant_id": tenant_id,
            "subscription_id": sub_id,
            "location": location,
            "application_resource_group": app_rg["name"],
            "application_resource_group_id": app_rg["id"],
        }
        adopt = body.get("adopt")
        if adopt is not None:
            if not isinstance(adopt, dict):
                raise BadRequest("adopt must be an object of application parameters")
            result.update(self._adopt(name, sub_id, location, app_rg["name"], dict(adopt), publisher))
        return json_response(result, 201)

    def _adopt(
        self, name: str, sub_id: str, location: str, app_rg: str, params: dict[str, Any], publisher: Principal
    ) -> dict[str, Any]:
        app_name = str(params.pop("applicationName", name))
        mrg = rg_id(sub_id, str(params.pop("managedResourceGroupName", f"{name}-mrg")))
        params.setdefault("aksName", f"{name}-aks")
        app_id = f"{rg_id(sub_id, app_rg)}/providers/Microsoft.Solutions/applications/{app_name}"
        definition_id = params.pop("applicationDefinitionId", None)
        put_body: dict[str, Any] = {
            "location": location,
            "properties": {
                "managedResourceGroupId": mrg,
                "parameters": {k: {"value": v} for k, v in params.items()},
            },
        }
        if definition_id:  # a service catalog application the customer deployed from that definition
            put_body["kind"] = "ServiceCatalog"
            put_body["properties"]["applicationDefinitionId"] = str(definition_id)
        else:
            put_body |= {"kind": "MarketPlace", "plan": DEFAULT_PLAN}
        try:
            with self.world.lock:
                self.world.put(application_body(self.world, self.world.arm, app_id, put_body, publisher))
            deploy(self.world, self.world.arm, app_id, instant=True)
        except ArmError as exc:
            raise BadRequest(f"adopt failed: {exc.code}: {exc.message}") from exc
        app = self.world.get(app_id)
        assert app is not None
        out = {k: v["value"] for k, v in app["properties"]["outputs"].items()}
        cluster = self.world.get(out["clusterResourceId"])
        assert cluster is not None
        mrg = app["properties"]["managedResourceGroupId"]
        return {
            "application_id": app_id,
            "managed_resource_group_id": mrg,
            "node_resource_group_id": rg_id(sub_id, out["nodeResourceGroup"]),
            "cluster_id": cluster["id"],
            "identity_id": out["identityResourceId"],
            "kubelet_identity_id": cluster["properties"]["identityProfile"]["kubeletidentity"]["resourceId"],
            "storage_account_id": f"{mrg}/providers/Microsoft.Storage/storageAccounts/{out['storageAccountName']}",
        }

    def add_principal(self, request: Request) -> Response:
        body = _body(request)
        tenant_id = str(body.get("tenant_id") or seed.PUBLISHER_TENANT_ID)
        if tenant_id not in self.world.tenants:
            raise BadRequest(f"unknown tenant {tenant_id}")
        principal = self.world.add_principal(
            Principal(
                object_id=new_guid(),
                tenant_id=tenant_id,
                kind="ServicePrincipal",
                client_id=new_guid(),
                display_name=str(body.get("display_name") or "sandbox-principal"),
                secret=secrets.token_urlsafe(32),
                created_at=time.time() - 3600,
                multi_tenant=bool(body.get("multi_tenant", False)),
            )
        )
        for role in body.get("roles") or []:
            ra = platform_assign(
                self.world,
                str(role["scope"]),
                _role_guid(str(role["role"])),
                principal.object_id,
                name=new_guid(),
                created_by="admin",
            )
            ra.created_at = ra.effective_at = time.time() - 1
        return json_response(
            {
                "object_id": principal.object_id,
                "client_id": principal.client_id,
                "secret": principal.secret,
                "tenant_id": tenant_id,
            },
            201,
        )

    # --- AKS behaviour ---
    def upgrade(self, request: Request) -> Response:
        cluster_id = request.params["cluster"]
        if self.world.get(cluster_id) is None:
            return _bad(f"cluster {cluster_id} not found", 404)
        dropped: dict[str, list[str]] = {}
        with self.world.lock:
            for vmss in resources_of_type(self.world, VMSS_TYPE):
                meta = vmss.get("_sandbox", {})
                if key(meta.get("cluster_id", "")) != key(cluster_id):
                    continue
                keep = {key(i) for i in meta.get("aks_identities", [])}
                identity = vmss.get("identity") or {}
                current = identity.get("userAssignedIdentities") or {}
                gone = [i for i in current if key(i) not in keep]
                if gone:
                    identity["userAssignedIdentities"] = {i: v for i, v in current.items() if key(i) in keep}
                    dropped[vmss["id"]] = gone
        self.world.publish("cluster.upgraded", cluster_id=cluster_id)
        return json_response({"cluster_id": cluster_id, "dropped": dropped})

    def lockdown(self, request: Request) -> Response:
        body = _body(request)
        scope = str(body.get("scope") or "")
        if not scope.startswith("/subscriptions/"):
            raise BadRequest("scope must be a resource id (the node resource group)")
        locked = bool(body.get("locked", True))
        with self.world.lock:
            self.world.locked_scopes = {s for s in self.world.locked_scopes if key(s) != key(scope)}
            if locked:
                self.world.locked_scopes.add(scope)
            for cluster in resources_of_type(self.world, MC_TYPE):
                sub = cluster["id"].split("/")[2]
                if key(rg_id(sub, cluster["properties"]["nodeResourceGroup"])) == key(scope):
                    cluster["properties"]["nodeResourceGroupProfile"] = {
                        "restrictionLevel": "ReadOnly" if locked else "Unrestricted"
                    }
            scopes = sorted(self.world.locked_scopes)
        return json_response({"locked_scopes": scopes})

    # --- Event Grid: delivery log, chaos, manual validation ---
    def eventgrid_deliveries(self, request: Request) -> Response:
        return json_response({"deliveries": broker_for(self.world).deliveries()})

    def eventgrid_clear(self, request: Request) -> Response:
        broker_for(self.world).clear()
        return Response(status=204)

    def eventgrid_chaos(self, request: Request) -> Response:
        body = _body(request)
        broker = broker_for(self.world)
        broker.chaos = Chaos(duplicate=bool(body.get("duplicate")), reorder=bool(body.get("reorder")))
        return json_response(broker.chaos.as_dict())

    def eventgrid_calm(self, request: Request) -> Response:
        broker = broker_for(self.world)
        broker.chaos = Chaos()
        return json_response(broker.chaos.as_dict())

    def eventgrid_validate(self, request: Request) -> Response:
        """The ``validationUrl`` of a manual handshake (Azure serves it on the Event Grid front, port 553)."""
        if not broker_for(self.world).pending.visit(request.q("token") or ""):
            return _bad("unknown or expired validation token", 404)
        return json_response({"validated": True})

    # --- dump ---
    def state(self, request: Request) -> Response:
        w = self.world
        with w.lock:
            return json_response(
                {
                    "tenants": [vars(t) for t in w.tenants.values()],
                    "subscriptions": [vars(s) for s in w.subscriptions.values()],
                    "principals": [
                        {
                            "object_id": p.object_id,
                            "tenant_id": p.tenant_id,
                            "kind": p.kind,
                            "client_id": p.client_id,
                            "display_name": p.display_name,
                            "resource_id": p.resource_id,
                            "created_at": p.created_at,
                        }
                        for p in w.principals.values()
                    ],
                    "resources": [{**public(r), "sandbox": r.get("_sandbox")} for r in w.resources.values()],
                    "role_assignments": [
                        {**assignment_body(ra), "effective_at": ra.effective_at}
                        for ra in w.role_assignments.values()
                    ],
                    "locked_scopes": sorted(w.locked_scopes),
                    "clusters": sorted(w.clusters),
                    "timing": w.timing.as_dict(),
                    "urls": w.urls,
                    "requests": len(w.request_log),
                }
            )


def _app(router: Router) -> Callable[[Request], Response]:
    inner = router_app(router)

    def app(request: Request) -> Response:
        try:
            return inner(request)
        except BadRequest as exc:
            return _bad(str(exc))

    return app


def build(world: World, certs: CertPaths | None = None) -> HttpService:
    admin = Admin(world)
    router = Router()
    router.add("GET", r"/requests", admin.requests)
    router.add("GET", r"/faults", admin.get_faults)
    router.add("POST", r"/faults", admin.set_faults)
    router.add("DELETE", r"/faults", admin.clear_faults)
    router.add("POST", r"/timing", admin.set_timing)
    router.add("DELETE", r"/timing", admin.reset_timing)
    router.add("POST", r"/customers", admin.add_customer)
    router.add("POST", r"/principals", admin.add_principal)
    router.add("POST", r"/clusters(?P<cluster>/subscriptions/.+)/upgrade", admin.upgrade)
    router.add("POST", r"/lockdown", admin.lockdown)
    router.add("GET", r"/state", admin.state)
    admin_notifications.register(router, world)
    router.add("GET", r"/eventgrid/deliveries", admin.eventgrid_deliveries)
    router.add("DELETE", r"/eventgrid/deliveries", admin.eventgrid_clear)
    router.add("POST", r"/eventgrid/chaos", admin.eventgrid_chaos)
    router.add("DELETE", r"/eventgrid/chaos", admin.eventgrid_calm)
    router.add("GET", r"/eventgrid/validate", admin.eventgrid_validate)
    return HttpService("admin", _app(router), certs=certs)
