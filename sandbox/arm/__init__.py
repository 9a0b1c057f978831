"""The sandbox's Azure Resource Manager over HTTPS: one module per resource provider, one request pipeline."""

from __future__ import annotations

from ..certs import CertPaths
from ..httpd import HttpService
from ..state import World
from . import (
    appdefinitions,
    authorization,
    compute,
    containerservice,
    deployments,
    eventgrid,
    eventgrid_events,
    msi,
    resources,
    solutions,
    storage,
)
from .app import ArmApp
from .base import ArmRouter
from .lro import Operations
from .template.dispatch import Dispatcher


def build(world: World, certs: CertPaths) -> HttpService:
    router = ArmRouter()
    ops = Operations(world)
    dispatcher = Dispatcher(world, router, ops)
    world.arm = dispatcher
    ops.register(router)
    authorization.register(router)
    resources.register(router)
    deployments.register(router, dispatcher, ops)
    solutions.register(router, ops, dispatcher)
    appdefinitions.register(router)
    containerservice.register(router, ops)
    compute.register(router, ops)
    msi.register(router)
    storage.register(router, ops)
    eventgrid.register(router, ops)
    eventgrid_events.install(world, router, ops)
    return HttpService("arm", ArmApp(world, router), certs=certs)
