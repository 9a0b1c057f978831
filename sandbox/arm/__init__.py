"""The sandbox's Azure Resource Manager over HTTPS: one module per resource provider, one request pipeline."""

from __future__ import annotations

from ..certs import CertPaths
from ..httpd import HttpService
from ..state import World
from . import authorization, compute, containerservice, msi, resources, solutions, storage
from .app import ArmApp
from .base import ArmRouter
from .lro import Operations


def build(world: World, certs: CertPaths) -> HttpService:
    router = ArmRouter()
    ops = Operations(world)
    ops.register(router)
    authorization.register(router)
    resources.register(router)
    solutions.register(router, ops)
    containerservice.register(router, ops)
    compute.register(router, ops)
    msi.register(router)
    storage.register(router)
    return HttpService("arm", ArmApp(world, router), certs=certs)
