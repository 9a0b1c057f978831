"""The ASGI application: routes, the spool and the forwarder's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route

from onboarding.redact import register_secret

from . import routes
from .forwarder import Forwarder
from .settings import ReceiverSettings
from .spool import Spool


def create_app(settings: ReceiverSettings) -> Starlette:
    for secret in (settings.notification_secret, settings.eventgrid_key):
        register_secret(secret.get_secret_value() if secret else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        spool = Spool(settings.spool_path)
        forwarder = Forwarder(spool, settings)
        app.state.settings, app.state.spool, app.state.forwarder = settings, spool, forwarder
        task = asyncio.create_task(forwarder.run(), name="forward-to-prefect")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            spool.close()

    return Starlette(
        routes=[
            Route("/notifications/resource", routes.notification, methods=["POST"]),
            Route("/eventgrid", routes.eventgrid, methods=["POST"]),
            Route("/eventgrid", routes.eventgrid_options, methods=["OPTIONS"]),
            Route("/healthz", routes.health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
