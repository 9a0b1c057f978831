"""Just enough RFC 6455 for ``pods/attach`` (the server side of a WebSocket, over the kube API's socket).

``sandbox.httpd`` answers requests with a status and a body; an attach has to keep the socket after a
``101 Switching Protocols``. ``UpgradeResponse`` carries the handshake and the session to run on the socket;
``KubeHttpService`` is ``HttpService`` with a request handler that knows it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from .. import httpd

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    """The peer closed the WebSocket (close frame or EOF)."""


class WebSocket:
    """A server-side WebSocket: ``recv`` returns whole data messages and answers pings; ``send`` is thread-safe."""

    def __init__(self, rfile: BinaryIO, wfile: BinaryIO) -> None:
        self._r = rfile
        self._w = wfile
        self._lock = threading.Lock()
        self.closed = False

    def _read(self, n: int) -> bytes:
        data = self._r.read(n)
        if len(data) < n:
            raise Closed
        return data

    def _frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        mask = self._read(4) if b1 & 0x80 else b""
        payload = self._read(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv(self) -> bytes:
        message, opcode = b"", None
        while True:
            fin, op, payload = self._frame()
            if op == OP_CLOSE:
                self.close()
                raise Closed
            if op == OP_PING:
                self._send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            opcode = op if op != OP_CONTINUATION else opcode
            message += payload
            if fin:
                return message

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([n])
        elif n < 1 << 16:
            header += bytes([126]) + struct.pack("!H", n)
        else:
            header += bytes([127]) + struct.pack("!Q", n)
        with self._lock:
            if self.closed and opcode != OP_CLOSE:
                raise Closed
            try:
                self._w.write(header + payload)
                self._w.flush()
            except OSError as exc:
                self.closed = True
                raise Closed from exc

    def send(self, payload: bytes) -> None:
        self._send(OP_BINARY, payload)

    def close(self, code: int = 1000) -> None:
        if self.closed:
            return
        with contextlib.suppress(Closed):
            self._send(OP_CLOSE, struct.pack("!H", code))
        self.closed = True


Session = Callable[[WebSocket], None]


@dataclass
class UpgradeResponse(httpd.Response):
    """A ``101 Switching Protocols`` answer; ``session`` then owns the socket until it returns."""

    key: str = ""
    protocol: str = ""
    session: Session | None = None
    headers: dict[str, str] = field(default_factory=dict)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class _UpgradeHandler(httpd._Handler):
    def _send(self, response: httpd.Response) -> None:
        if not isinstance(response, UpgradeResponse) or response.session is None:
            super()._send(response)
            return
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(response.key))
        if response.protocol:
            self.send_header("Sec-WebSocket-Protocol", response.protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        ws = WebSocket(self.rfile, self.wfile)  # type: ignore[arg-type]
        try:
            response.session(ws)
        finally:
            ws.close()


class KubeHttpService(httpd.HttpService):
    """``HttpService`` whose handler can switch a request to a WebSocket (``UpgradeResponse``)."""

    def __init__(self, name: str, app: Callable[[httpd.Request], httpd.Response], **kwargs: object) -> None:
        super().__init__(name, app, **kwargs)  # type: ignore[arg-type]
        self._server.RequestHandlerClass = _UpgradeHandler
