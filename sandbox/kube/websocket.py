"""Just enough RFC 6455 for ``pods/attach`` (the server side of a WebSocket, over the kube API's socket).

An attach keeps the socket after a ``101 Switching Protocols``: ``upgrade_response`` is that answer, and
``sandbox.httpd`` hands the connection to its session (``Response.takeover``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import struct
import threading
from collections.abc import Callable
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


def upgrade_response(key: str, protocol: str, session: Session) -> httpd.Response:
    """The ``101 Switching Protocols`` answer (RFC 6455 section 4.2.2); ``session`` then owns the socket."""
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept_key(key)}
    if protocol:
        headers["Sec-WebSocket-Protocol"] = protocol

    def takeover(rfile: BinaryIO, wfile: BinaryIO) -> None:
        ws = WebSocket(rfile, wfile)
        try:
            session(ws)
        finally:
            ws.close()

    return httpd.Response(status=101, headers=headers, takeover=takeover)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
