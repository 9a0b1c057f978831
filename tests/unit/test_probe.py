"""The storage probe against a tiny local HTTP server that plays IMDS, the token endpoint and ADLS Gen2 DFS."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from probe import probe

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
MIRID = "/subscriptions/x/resourceGroups/mrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app"
OID = "99999999-8888-7777-6666-555555555555"
PROBE_FILE = Path(probe.__file__)


def _jwt(claims: dict[str, Any]) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


TOKEN = _jwt({"aud": "https://storage.azure.com", "oid": OID, "xms_mirid": MIRID, "tid": "t"})


class Peer:
    """What the fake peer answers and what it saw."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.imds_status = 200
        self.list_status = 200
        self.files = {"data/folder1/t1.csv": b"a,b,c\n1,2,3\n", "data/folder1/t2.csv": b"x\n"}


def _handler(peer: Peer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            peer.requests.append(
                {"method": "GET", "path": url.path, "query": query, "headers": dict(self.headers)}
            )
            if url.path == "/metadata/identity/oauth2/token":
                if self.headers.get("Metadata") != "true":
                    return self._send(400, b'{"error":"invalid_request"}')
                if peer.imds_status != 200:
                    return self._send(
                        peer.imds_status,
                        b'{"error":"invalid_request","error_description":"Identity not found"}',
                    )
                return self._send(200, json.dumps({"access_token": TOKEN, "expires_in": "3600"}).encode())
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, b'{"error":{"code":"InvalidAuthenticationInfo"}}')
            if query.get("resource") == "filesystem":
                if peer.list_status != 200:
                    return self._send(
                        peer.list_status,
                        b'{"error":{"code":"AuthorizationPermissionMismatch",'
                        b'"message":"This request is not authorized"}}',
                    )
                fs = url.path.strip("/")
                prefix = f"{fs}/{query.get('directory', '')}".rstrip("/") + "/"
                names = [k[len(fs) + 1 :] for k in peer.files if k.startswith(prefix)]
                if not names:
                    return self._send(
                        404,
                        b'{"error":{"code":"PathNotFound","message":"The specified path does not exist."}}',
                    )
                return self._send(200, json.dumps({"paths": [{"name": n} for n in names]}).encode())
            key = urllib.parse.unquote(url.path.strip("/"))
            if key in peer.files:
                return self._send(200, peer.files[key], "text/csv")
            return self._send(404, b'{"error":{"code":"PathNotFound"}}')

        def do_POST(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
            peer.requests.append({"method": "POST", "path": url.path, "form": form})
            if url.path.endswith("/oauth2/v2.0/token") and form.get("client_assertion") == "sa-token":
                return self._send(200, json.dumps({"access_token": TOKEN, "expires_in": 3600}).encode())
            return self._send(401, b'{"error":"invalid_client","error_description":"AADSTS700213"}')

    return Handler


@pytest.fixture
def peer() -> Iterator[tuple[Peer, str]]:
    state = Peer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _env(base: str, **extra: str) -> dict[str, str]:
    env = {
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": base,
        "PROBE_DFS_ENDPOINT": base,
        "PROBE_FILESYSTEM": "data",
        "PROBE_DIRECTORY": "folder1",
        "PROBE_FILE": "t1.csv",
        "PROBE_AUDIENCE": "https://storage.azure.com/",
        "PROBE_CLIENT_ID": CLIENT_ID,
        "PROBE_RESOURCE_ID": MIRID,
        "PROBE_TIMEOUT_S": "5",
    }
    env.update(extra)
    return env


def test_imds_list_and_read(peer: tuple[Peer, str]) -> None:
    state, base = peer
    result = probe.run(_env(base))
    assert result["ok"] is True and result["stage"] == "done" and result["status"] == 200
    assert result["identity"]["xms_mirid"] == MIRID and result["identity"]["oid"] == OID
    assert result["paths"] == ["folder1/t1.csv", "folder1/t2.csv"]
    assert result["file_bytes"] == 12 and result["first_line"] == "a,b,c"
    imds = state.requests[0]
    assert imds["query"] == {
        "api-version": "2018-02-01",
        "resource": "https://storage.azure.com/",
        "client_id": CLIENT_ID,
    }
    listing = state.requests[1]
    assert listing["path"] == "/data"
    assert listing["query"] == {"resource": "filesystem", "recursive": "false", "directory": "folder1"}
    assert {k.lower(): v for k, v in listing["headers"].items()}["x-ms-version"]


def test_runs_as_a_script_and_never_prints_the_token(peer: tuple[Peer, str]) -> None:
    _, base = peer
    env = {**os.environ, **_env(base)}
    done = subprocess.run(
        [sys.executable, str(PROBE_FILE)], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["ok"] is True
    assert TOKEN not in done.stdout and TOKEN.split(".")[1] not in done.stdout and not done.stderr


def test_no_token(peer: tuple[Peer, str]) -> None:
    state, base = peer
    state.imds_status = 404
    env = {**os.environ, **_env(base)}
    done = subprocess.run(
        [sys.executable, str(PROBE_FILE)], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result == {**result, "ok": False, "stage": "token", "status": 404, "identity": {}}
    assert "Identity not found" in result["error"]
    assert len(state.requests) == 1  # no storage call without a token


def test_forbidden_list(peer: tuple[Peer, str]) -> None:
    state, base = peer
    state.list_status = 403
    result = probe.run(_env(base))
    assert (result["ok"], result["stage"], result["status"]) == (False, "list", 403)
    assert "AuthorizationPermissionMismatch" in result["error"]
    assert result["identity"]["oid"] == OID  # whose token was refused


def test_missing_directory_and_file(peer: tuple[Peer, str]) -> None:
    _, base = peer
    result = probe.run(_env(base, PROBE_DIRECTORY="nope"))
    assert (result["stage"], result["status"]) == ("list", 404) and "PathNotFound" in result["error"]
    result = probe.run(_env(base, PROBE_FILE="missing.csv"))
    assert (result["ok"], result["stage"], result["status"]) == (False, "read", 404)
    assert result["paths"] == ["folder1/t1.csv", "folder1/t2.csv"]


def test_workload_identity_exchange(peer: tuple[Peer, str], tmp_path: Path) -> None:
    state, base = peer
    token_file = tmp_path / "token"
    token_file.write_text("sa-token\n")
    env = _env(
        base,
        AZURE_FEDERATED_TOKEN_FILE=str(token_file),
        AZURE_AUTHORITY_HOST=base,
        AZURE_TENANT_ID="tenant-1",
        AZURE_CLIENT_ID=CLIENT_ID,
    )
    result = probe.run(env)
    assert result["ok"] is True, result
    exchange = state.requests[0]
    assert exchange["path"] == "/tenant-1/oauth2/v2.0/token"
    assert exchange["form"]["scope"] == "https://storage.azure.com/.default"
    assert exchange["form"]["grant_type"] == "client_credentials"
    assert (
        exchange["form"]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert exchange["form"]["client_id"] == CLIENT_ID

    token_file.write_text("wrong")
    result = probe.run(env)
    assert (result["ok"], result["stage"], result["status"]) == (False, "token", 401)
    assert "AADSTS700213" in result["error"]


def test_unreachable_endpoint() -> None:
    result = probe.run(_env("http://127.0.0.1:9", PROBE_TIMEOUT_S="2"))
    assert (result["ok"], result["stage"], result["status"]) == (False, "token", 0)
    assert result["error"]


def test_claims_decoding() -> None:
    assert probe.claims(TOKEN)["xms_mirid"] == MIRID
    assert probe.claims("not-a-jwt") == {}
