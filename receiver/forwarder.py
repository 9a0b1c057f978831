"""Sends spooled events to Prefect and marks them sent only once the API confirmed them.

It posts them to the Prefect REST API's ``POST /events`` (what the events websocket does without an answer per
event): a 204 means the server took the batch, so the rows are marked sent after it, never before. While the API
is down the events stay in the spool and the forwarder retries with a doubling wait, from the oldest event on."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
from prefect.client.orchestration import get_client
from starlette.concurrency import run_in_threadpool

from onboarding.redact import redact

from .settings import ReceiverSettings
from .spool import Pending, Spool

logger = logging.getLogger(__name__)


async def post_events(batch: list[Pending]) -> None:
    """Raises unless the Prefect API answered 2xx for the whole batch."""
    async with get_client() as client:
        response = await client.request("POST", "/events", json=[json.loads(p.event_json) for p in batch])
        response.raise_for_status()


class Forwarder:
    def __init__(self, spool: Spool, settings: ReceiverSettings) -> None:
        self._spool = spool
        self._settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New events were spooled: send them now rather than at the next retry."""
        self._wake.set()

    async def run(self) -> None:
        delay = self._settings.forward_retry_base_s
        while True:
            self._wake.clear()
            batch = await run_in_threadpool(self._spool.pending, self._settings.forward_batch)
            if not batch:
                await self._wake.wait()
                continue
            seqs = [p.seq for p in batch]
            try:
                await post_events(batch)
            except (httpx.HTTPError, OSError, RuntimeError) as exc:
                await run_in_threadpool(self._spool.mark_failed, seqs)
                logger.warning(
                    "Prefect API did not take %d event(s) (%s); retrying in %.1f s",
                    len(batch),
                    redact(f"{type(exc).__name__}: {exc}")[:300],
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.forward_retry_max_s)
                continue
            await run_in_threadpool(self._spool.mark_sent, seqs)
            delay = self._settings.forward_retry_base_s
            logger.info("forwarded %d event(s) to Prefect", len(batch))
