"""The HTTP routes: Azure's deliveries in, an answer out only after what they carry is spooled."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .auth import CUSTOMER_HEADER, eventgrid_authorized, notification_authorized
from .customers import customer_of_application
from .forwarder import Forwarder
from .mapping import Outcome, customer_label, map_grid_event, map_notification
from .parsing import GridEvent, MalformedDelivery, parse_eventgrid, parse_notification
from .settings import ReceiverSettings
from .spool import Spool

logger = logging.getLogger(__name__)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it (or its declared length) passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the body is larger than {limit} bytes")
    return bytes(body)


def _settings(request: Request) -> ReceiverSettings:
    settings: ReceiverSettings = request.app.state.settings
    return settings


async def _accept(request: Request, outcomes: list[Outcome]) -> JSONResponse:
    spool: Spool = request.app.state.spool
    forwarder: Forwarder = request.app.state.forwarder
    new = await run_in_threadpool(spool.record, outcomes)
    if any(outcome.event for outcome in new):
        forwarder.wake()
    fresh = {outcome.delivery_id for outcome in new}
    for outcome in outcomes:
        logger.info(
            "%s delivery %s: %s%s",
            outcome.source,
            outcome.kind,
            outcome.event.event if outcome.event else "starts nothing",
            "" if outcome.delivery_id in fresh else " (seen before: nothing new)",
        )
    return JSONResponse({"received": len(outcomes), "new": len(new)})


async def notification(request: Request) -> Response:
    settings = _settings(request)
    if not notification_authorized(request, settings.notification_secret):
        raise HTTPException(401, "unauthorized")
    try:
        parsed = parse_notification(await read_body(request, settings.max_body_bytes))
    except MalformedDelivery as exc:
        raise HTTPException(400, str(exc)) from None
    customer = await run_in_threadpool(customer_of_application, parsed.application_id)
    return await _accept(request, [map_notification(parsed, customer)])


def _handshake(events: list[GridEvent]) -> str | None:
    return events[0].validation_code if len(events) == 1 else None


def _require_delivery_key(request: Request) -> None:
    if not eventgrid_authorized(request, _settings(request).eventgrid_key):
        raise HTTPException(401, "unauthorized")


async def eventgrid(request: Request) -> Response:
    """Event Grid deliveries, both schemas, and the Event Grid schema's validation handshake. The delivery key is
    required on the handshake too: Azure sends static delivery attributes with the validation request."""
    _require_delivery_key(request)
    body = await read_body(request, _settings(request).max_body_bytes)
    try:
        events = parse_eventgrid(body, request.headers.get("content-type", ""))
    except MalformedDelivery as exc:
        raise HTTPException(400, str(exc)) from None
    code = _handshake(events)
    if code is not None:
        logger.info("answered an Event Grid subscription validation")
        return JSONResponse({"validationResponse": code})
    customer = customer_label(request.headers.get(CUSTOMER_HEADER))
    return await _accept(request, [map_grid_event(event, customer) for event in events])


async def eventgrid_options(request: Request) -> Response:
    """CloudEvents 1.0 abuse protection (the CloudEvents schema's handshake): allow the origin that asks."""
    _require_delivery_key(request)
    origin = request.headers.get("webhook-request-origin")
    if not origin:
        raise HTTPException(400, "WebHook-Request-Origin is missing")
    return Response(
        status_code=200,
        headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST, OPTIONS"},
    )


async def health(request: Request) -> Response:
    spool: Spool = request.app.state.spool
    return JSONResponse({"status": "ok", **await run_in_threadpool(spool.counts)})
