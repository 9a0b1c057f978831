"""Forwards a blob API request to Azurite: the sandbox (account, filesystem) becomes Azurite's container, the
caller's token is replaced by one the front mints (Azurite checks audience, issuer and lifetime only)."""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from ..httpd import Request, Response
from ..state import World
from .naming import AZURITE_ACCOUNT

DEFAULT_API_VERSION = "2021-08-06"
_NOT_FORWARDED = {
    "host",
    "authorization",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-authorization",
    "accept-encoding",
}
_NOT_RETURNED = {
    "content-length",
    "content-type",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "date",
    "server",
}
_FRONT_TENANT = "00000000-0000-0000-0000-00000000a2e0"
_TOKEN_LIFETIME_S = 3600


class AzuriteProxy:
    def __init__(self, world: World, port: int, ca_bundle: Path) -> None:
        self.world = world
        self.port = port
        self.tls = ssl.create_default_context(cafile=str(ca_bundle))
        self._token = ""
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def _front_token(self) -> str:
        with self._lock:
            if time.time() > self._token_expires - 300:
                self._token = self.world.signer.mint(
                    audience="https://storage.azure.com",
                    tenant_id=_FRONT_TENANT,
                    object_id=_FRONT_TENANT,
                    app_id="sandbox-storage-front",
                    lifetime_s=_TOKEN_LIFETIME_S,
                )
                self._token_expires = time.time() + _TOKEN_LIFETIME_S
            return self._token

    def forward(self, request: Request, container: str, path: str) -> Response:
        target = f"/{AZURITE_ACCOUNT}/{quote(container)}" + (f"/{quote(path)}" if path else "")
        if request.query:
            target += "?" + urlencode(request.query)
        headers = {k: v for k, v in request.headers.items() if k not in _NOT_FORWARDED}
        headers.setdefault("x-ms-version", DEFAULT_API_VERSION)
        headers["authorization"] = f"Bearer {self._front_token()}"
        body = request.body if request.body or request.method in ("PUT", "POST", "PATCH") else None
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls, timeout=60)
        try:
            conn.request(request.method, target, body=body, headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
        finally:
            conn.close()
        out = {k: v for k, v in answer.getheaders() if k.lower() not in _NOT_RETURNED}
        length = answer.getheader("content-length")
        if request.method == "HEAD" and length is not None:
            out["Content-Length"] = length  # a HEAD answer tells the entity's length, not its (empty) body's
        content_type = answer.getheader("content-type") or "application/octet-stream"
        return Response(status=answer.status, body=payload, headers=out, content_type=content_type)
