"""Stub: replaced by the real ARM service."""

from __future__ import annotations

from ..certs import CertPaths
from ..httpd import HttpService, Router, router_app
from ..state import World


def build(world: World, certs: CertPaths) -> HttpService:
    return HttpService("arm", router_app(Router()), certs=certs)
