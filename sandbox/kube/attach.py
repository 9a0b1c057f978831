"""``pods/{name}/attach`` over WebSocket, the way kubectl 1.32 attaches (``kubectl run -i``, ``kubectl attach``).

Protocol (k8s.io/apimachinery ``util/remotecommand`` constants, client-go ``tools/remotecommand/websocket.go``):
kubectl 1.32 offers ``Sec-WebSocket-Protocol: v5.channel.k8s.io`` (``NewWebSocketExecutor``: v5 only, for its
close signal) and pings every few seconds (answered with pongs); v4 is served too. Every binary message
starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 error (a ``Status``, then the server closes), 4 resize.
v5 adds ``[255, channel]``: the client closed that stream (stdin EOF). kubectl tries WebSocket first and falls
back to SPDY only when the upgrade itself fails; the sandbox speaks WebSocket only.
The container's stdout and stderr are one log file here, so both arrive on channel 1; the stream starts at the
container's first output (a real attach shows only what comes after it attaches).
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

from ..httpd import Request, Response
from .errors import ApiError
from .kubelet import Kubelet
from .websocket import Closed, WebSocket, upgrade_response

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, ERROR, CLOSE = 0, 1, 3, 255


def _status(message: str | None = None) -> dict[str, Any]:
    """The error channel's last word. An attach reports only its own failure, never the container's exit code
    (unlike exec): kubectl reads that from the pod's status afterwards (``kubectl run`` exits with it)."""
    if message is None:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "message": message}


class Attacher:
    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet

    def __call__(self, req: Request, namespace: str, name: str) -> Response:
        if (req.header("upgrade") or "").lower() != "websocket":
            raise ApiError(400, "BadRequest", "Upgrade request required")
        offered = [p.strip() for p in (req.header("sec-websocket-protocol") or "").split(",")]
        protocol = next((p for p in PROTOCOLS if p in offered), None)
        if protocol is None:
            raise ApiError(
                400, "BadRequest", f"none of the offered protocols {offered} is supported: {PROTOCOLS}"
            )
        want_stdin = (req.q("stdin") or "").lower() in ("true", "1")

        def session(ws: WebSocket) -> None:
            self._session(ws, namespace, name, want_stdin, protocol == PROTOCOLS[0])

        return upgrade_response(req.header("sec-websocket-key") or "", protocol, session)

    def _session(self, ws: WebSocket, namespace: str, name: str, want_stdin: bool, v5: bool) -> None:
        running = self.kubelet.process(namespace, name)
        if running is None:
            message = f'container in pod "{name}" has no process in the sandbox to attach to'
            ws.send(bytes([ERROR]) + json.dumps(_status(message)).encode())
            return
        proc, _ = running
        stdin = proc.stdin if want_stdin else None
        threading.Thread(target=self._pump_stdin, args=(ws, stdin, v5), daemon=True).start()
        try:
            for chunk in self.kubelet.log_chunks(namespace, name, None) or iter(()):
                ws.send(bytes([STDOUT]) + chunk)
            proc.wait()
            ws.send(bytes([ERROR]) + json.dumps(_status()).encode())
        except Closed:
            return

    @staticmethod
    def _pump_stdin(ws: WebSocket, stdin: Any, v5: bool) -> None:
        """Client messages: stdin data to the process; EOF (v5 close signal, or the socket ending) closes it."""
        try:
            while True:
                message = ws.recv()
                if not message:
                    continue
                if message[0] == STDIN and stdin is not None:
                    stdin.write(message[1:])
                    stdin.flush()
                elif v5 and message[0] == CLOSE and message[1:2] == bytes([STDIN]) and stdin is not None:
                    stdin.close()
                    stdin = None
        except (Closed, OSError, ValueError):
            pass
        finally:
            if stdin is not None:
                with contextlib.suppress(OSError):
                    stdin.close()
