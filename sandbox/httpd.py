"""A small threaded HTTP(S) server with regex routing, shared by every sandbox service.

Stdlib only, so the sandbox starts fast and nothing in it hides the wire: handlers see the raw
method, path, query, headers and body, and answer with status, headers and a body (or a stream
of chunks for Kubernetes watches).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

from .certs import CertPaths

log = logging.getLogger("sandbox.httpd")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    server: str = ""

    def q(self, name: str, default: str | None = None) -> str | None:
        """Query parameter by case-insensitive name (ARM treats them so)."""
        lname = name.lower()
        for key, value in self.query.items():
            if key.lower() == lname:
                return value
        return default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    stream: Iterable[bytes] | None = None
    # A protocol switch (101): after the status line and headers, the connection's reader and writer are handed
    # to this callable, which owns them until it returns (a WebSocket session); the connection then closes.
    takeover: Callable[[BinaryIO, BinaryIO], None] | None = None

    def encoded(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", self.content_type or "application/json"
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json; charset=utf-8"


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(status=status, body=body, headers=dict(headers))


Handler = Callable[[Request], Response]


class Router:
    """Routes by method and a regex over the unquoted path, matched case-insensitively (as ARM does)."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        compiled = re.compile(pattern + r"/?$", re.IGNORECASE)

        def register(fn: Handler) -> Handler:
            self._routes.append((method.upper(), compiled, fn))
            return fn

        return register

    def add(self, method: str, pattern: str, fn: Handler) -> None:
        self.route(method, pattern)(fn)

    def match(self, request: Request) -> Handler | None:
        path_matched = False
        for method, pattern, fn in self._routes:
            m = pattern.match(request.path)
            if m:
                path_matched = True
                if method in (request.method, "*"):
                    request.params = {k: v for k, v in m.groupdict().items() if v is not None}
                    return fn
        if path_matched:
            return _method_not_allowed
        return None


def _method_not_allowed(request: Request) -> Response:
    return json_response(
        {"error": {"code": "MethodNotAllowed", "message": f"{request.method} is not supported here"}}, 405
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.server.service_name, format % args)

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command.upper(),
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            server=self.server.service_name,
        )
        try:
            response = self.server.app(request)
        except Exception as exc:
            log.error(
                "%s %s %s failed:\n%s",
                self.server.service_name,
                request.method,
                request.path,
                traceback.format_exc(),
            )
            response = json_response(
                {"error": {"code": "InternalServerError", "message": f"sandbox error: {exc}"}}, 500
            )
        self._send(response)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        if response.takeover is not None:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            response.takeover(self.rfile, self.wfile)  # type: ignore[arg-type]
            return
        if response.stream is not None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type or "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                for chunk in response.stream:
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                self.close_connection = True
            return
        payload, content_type = response.encoded()
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        # A handler may set Content-Length itself: a proxied HEAD answer carries the entity's length.
        if not any(k.lower() == "content-length" for k in response.headers):
            self.send_header("Content-Length", str(len(payload)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(
        self, service_name: str, app: Callable[[Request], Response], tls: ssl.SSLContext | None, port: int
    ) -> None:
        self.service_name = service_name
        self.app = app
        self.tls = tls
        super().__init__(("127.0.0.1", port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the worker thread, so one slow client never blocks accept().
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error on %s", self.service_name, exc_info=True)


def server_tls_context(certs: CertPaths) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs.server_cert), str(certs.server_key))
    return ctx


class HttpService:
    """One listening service on 127.0.0.1 (never another address), HTTPS when given certificates."""

    def __init__(
        self, name: str, app: Callable[[Request], Response], *, certs: CertPaths | None = None, port: int = 0
    ) -> None:
        tls = server_tls_context(certs) if certs else None
        self._server = _Server(name, app, tls, port)
        self.name = name
        self.port: int = self._server.server_address[1]
        self.scheme = "https" if certs else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"http-{name}", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> HttpService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def router_app(router: Router, not_found: Handler | None = None) -> Callable[[Request], Response]:
    def app(request: Request) -> Response:
        handler = router.match(request)
        if handler is None:
            if not_found is not None:
                return not_found(request)
            return json_response(
                {"error": {"code": "NotFound", "message": f"no route for {request.path}"}}, 404
            )
        return handler(request)

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
