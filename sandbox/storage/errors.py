"""Storage error answers in the two dialects one URL serves here: the DFS endpoint's JSON
(``{"error": {"code", "message"}}``) and the blob endpoint's XML; both carry ``x-ms-error-code``."""

from __future__ import annotations

import datetime as dt
import uuid
from xml.sax.saxutils import escape

from ..httpd import Request, Response

# Blob API codes the DFS endpoint reports under its own names.
DFS_CODES = {"BlobNotFound": "PathNotFound", "ContainerNotFound": "FilesystemNotFound"}
DFS_MESSAGES = {
    "PathNotFound": "The specified path does not exist.",
    "FilesystemNotFound": "The specified filesystem does not exist.",
}
_DFS_QUERY = ("resource", "action")
_BLOB_QUERY = ("comp", "restype")


def is_dfs(request: Request) -> bool:
    """Which endpoint a request means (both share the front's URL): DFS-only operations are DFS, blob-only ones
    and blob SDKs (their User-Agent names ``blob``) are blob, anything else (curl, the probe) is DFS."""
    if any(request.q(name) is not None for name in _DFS_QUERY):
        return True
    if any(request.q(name) is not None for name in _BLOB_QUERY):
        return False
    return "blob" not in (request.header("user-agent") or "").lower()


def storage_error(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    request_id = str(uuid.uuid4())
    detail = f"{message}\nRequestId:{request_id}\nTime:{dt.datetime.now(dt.UTC).isoformat()}"
    all_headers = {"x-ms-error-code": code, "x-ms-request-id": request_id, **(headers or {})}
    if is_dfs(request):
        body = {"error": {"code": code, "message": detail}}
        return Response(status=status, body=body, headers=all_headers)
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(detail)}</Message></Error>"
    )
    return Response(status=status, body=xml.encode(), headers=all_headers, content_type="application/xml")
