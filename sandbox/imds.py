"""Stub: replaced by the real service."""

from __future__ import annotations

from .certs import CertPaths
from .httpd import HttpService, Router, router_app
from .state import World


def build(world: World, certs: CertPaths | None = None) -> HttpService:
    return HttpService("imds", router_app(Router()), certs=certs)
