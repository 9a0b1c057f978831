"""Storage probe: runs inside a pod, proves the pod's identity can list and read ADLS Gen2 (stdlib only).

1. token: from IMDS (aad-pod-identity's NMI answers on the node's IMDS address, or
   ``$AZURE_POD_IDENTITY_AUTHORITY_HOST``), or for Azure AD Workload Identity by exchanging the projected service
   account token (``$AZURE_FEDERATED_TOKEN_FILE``) at ``$AZURE_AUTHORITY_HOST/$AZURE_TENANT_ID/oauth2/v2.0/token``;
2. list: ``GET {dfs}/{filesystem}?resource=filesystem&recursive=false&directory={dir}`` (ADLS Gen2 List Paths);
3. read: ``GET {dfs}/{filesystem}/{dir}/{file}``.

Prints exactly one JSON line on stdout:
``{"ok", "stage", "status", "error", "identity", "paths", "file_bytes", "first_line"}`` and exits 0 when ok, 1
otherwise. The token itself is never printed. Configuration comes from the environment (``PROBE_*``).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

IMDS_DEFAULT = "http://169.254.169.254"
STORAGE_API_VERSION = "2023-11-03"
MAX_ERROR = 600


class ProbeFailure(Exception):
    def __init__(self, stage: str, status: int, error: str) -> None:
        super().__init__(error)
        self.stage = stage
        self.status = status
        self.error = error


def _ssl_context() -> ssl.SSLContext:
    cafile = os.environ.get("SSL_CERT_FILE") or None
    return ssl.create_default_context(cafile=cafile)


def _http(
    method: str,
    url: str,
    *,
    stage: str,
    headers: dict[str, str],
    data: bytes | None = None,
    timeout: float,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    handlers: list[Any] = [urllib.request.ProxyHandler({})]  # like curl --noproxy "*"
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context()))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()[:MAX_ERROR].decode("utf-8", "replace")
        raise ProbeFailure(stage, exc.code, _scrub(body) or str(exc.reason)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProbeFailure(stage, 0, f"{type(exc).__name__}: {reason}") from None


def _scrub(text: str) -> str:
    """Error bodies must not carry a token (they never should; be sure)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(data, dict):
        for k in ("access_token", "refresh_token", "id_token"):
            if k in data:
                data[k] = "***"
        return json.dumps(data)[:MAX_ERROR]
    return text.strip()


def _scope(audience: str) -> str:
    return audience if audience.endswith("/.default") else audience.rstrip("/") + "/.default"


def _resource(audience: str) -> str:
    return audience[: -len("/.default")] if audience.endswith("/.default") else audience


def claims(token: str) -> dict[str, Any]:
    """The JWT payload, decoded without verification (only to say whose token this is)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        data = json.loads(base64.urlsafe_b64decode(payload))
        return data if isinstance(data, dict) else {}
    except (IndexError, ValueError):
        return {}


def token_from_imds(
    env: dict[str, str], *, audience: str, client_id: str, resource_id: str, timeout: float
) -> str:
    host = (env.get("AZURE_POD_IDENTITY_AUTHORITY_HOST") or IMDS_DEFAULT).rstrip("/")
    query = {"api-version": "2018-02-01", "resource": _resource(audience)}
    if client_id:
        query["client_id"] = client_id
    elif resource_id:
        query["msi_res_id"] = resource_id
    url = f"{host}/metadata/identity/oauth2/token?{urllib.parse.urlencode(query)}"
    _, body = _http("GET", url, stage="token", headers={"Metadata": "true"}, timeout=timeout)
    return _access_token(body)


def token_from_federation(env: dict[str, str], *, audience: str, client_id: str, timeout: float) -> str:
    token_file = env["AZURE_FEDERATED_TOKEN_FILE"]
    authority = (env.get("AZURE_AUTHORITY_HOST") or "https://login.microsoftonline.com").rstrip("/")
    tenant = env.get("AZURE_TENANT_ID", "")
    client = env.get("AZURE_CLIENT_ID") or client_id
    try:
        with open(token_file, encoding="utf-8") as fh:
            assertion = fh.read().strip()
    except OSError as exc:
        raise ProbeFailure("token", 0, f"cannot read the federated token file: {exc}") from None
    if not tenant:
        raise ProbeFailure(
            "token", 0, "AZURE_TENANT_ID is not set (is the workload identity webhook running?)"
        )
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client,
            "scope": _scope(audience),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }
    ).encode()
    url = f"{authority}/{tenant}/oauth2/v2.0/token"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    _, body = _http("POST", url, stage="token", headers=headers, data=form, timeout=timeout)
    return _access_token(body)


def _access_token(body: bytes) -> str:
    try:
        token = json.loads(body)["access_token"]
    except (ValueError, KeyError, TypeError):
        raise ProbeFailure("token", 200, "token response has no access_token") from None
    if not isinstance(token, str) or not token:
        raise ProbeFailure("token", 200, "token response has an empty access_token")
    return token


def identity_of(token_claims: dict[str, Any]) -> dict[str, Any]:
    return {
        k: token_claims.get(k) for k in ("oid", "xms_mirid", "appid", "azp", "tid") if token_claims.get(k)
    }


def run(env: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ok": False,
        "stage": "token",
        "status": 0,
        "error": "",
        "identity": {},
        "paths": [],
        "file_bytes": 0,
        "first_line": "",
    }
    timeout = float(env.get("PROBE_TIMEOUT_S", "30"))
    dfs = env["PROBE_DFS_ENDPOINT"].rstrip("/")
    filesystem = env["PROBE_FILESYSTEM"]
    directory = env.get("PROBE_DIRECTORY", "").strip("/")
    file_name = env.get("PROBE_FILE", "")
    audience = env.get("PROBE_AUDIENCE", "https://storage.azure.com/")
    client_id = env.get("PROBE_CLIENT_ID", "")
    resource_id = env.get("PROBE_RESOURCE_ID", "")
    try:
        if env.get("AZURE_FEDERATED_TOKEN_FILE"):
            token = token_from_federation(env, audience=audience, client_id=client_id, timeout=timeout)
        else:
            token = token_from_imds(
                env, audience=audience, client_id=client_id, resource_id=resource_id, timeout=timeout
            )
        result["identity"] = identity_of(claims(token))
        headers = {"Authorization": f"Bearer {token}", "x-ms-version": STORAGE_API_VERSION}

        result["stage"] = "list"
        query = {"resource": "filesystem", "recursive": "false"}
        if directory:
            query["directory"] = directory
        fs_url = f"{dfs}/{urllib.parse.quote(filesystem)}"
        status, body = _http(
            "GET", f"{fs_url}?{urllib.parse.urlencode(query)}", stage="list", headers=headers, timeout=timeout
        )
        result["status"] = status
        try:
            listing = json.loads(body or b"{}")
            result["paths"] = [p.get("name", "") for p in listing.get("paths", [])]
        except (ValueError, AttributeError):
            raise ProbeFailure(
                "list", status, "List Paths answered with something that is not JSON"
            ) from None

        if file_name:
            result["stage"] = "read"
            path = f"{directory}/{file_name}" if directory else file_name
            status, body = _http(
                "GET", f"{fs_url}/{urllib.parse.quote(path)}", stage="read", headers=headers, timeout=timeout
            )
            result["status"] = status
            result["file_bytes"] = len(body)
            text = body.decode("utf-8", "replace")
            result["first_line"] = text.splitlines()[0][:200] if text else ""
        result["stage"] = "done"
        result["ok"] = True
    except ProbeFailure as failure:
        result["stage"] = failure.stage
        result["status"] = failure.status
        result["error"] = failure.error
    except KeyError as exc:
        result["error"] = f"missing setting {exc}"
    return result


def main() -> int:
    result = run(dict(os.environ))
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
