"""The storage front: one HTTPS URL that serves every sandbox account as ``/{account}/{filesystem}/{path}``,
both as the DFS endpoint (List Paths, JSON errors) and as the blob endpoint (proxied to Azurite).

Order of checks, as Azure Storage: authenticate (401), account (404), authorize (403), then the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from ..httpd import Request, Response
from ..state import World
from .auth import authenticate, authorize, find_account
from .errors import DFS_CODES, DFS_MESSAGES, is_dfs, storage_error
from .listing import DEFAULT_MAX_RESULTS, BlobRecord, list_paths, page
from .naming import container_name
from .proxy import AzuriteProxy


class StorageFront:
    def __init__(
        self,
        world: World,
        blobs: BlobServiceClient,
        proxy: AzuriteProxy,
        await_account: Callable[[str], None],
    ) -> None:
        self.world = world
        self.blobs = blobs
        self.proxy = proxy
        self.await_account = await_account

    def __call__(self, request: Request) -> Response:
        account_name, _, rest = request.path.lstrip("/").partition("/")
        filesystem, _, path = rest.partition("/")
        account = find_account(self.world, account_name)
        claims = authenticate(self.world, request, account_name, account.tenant_id if account else None)
        if isinstance(claims, Response):
            return claims
        if account is None:
            return storage_error(
                request, 404, "ResourceNotFound", f"The storage account {account_name} does not exist."
            )
        if not filesystem:
            message = "The sandbox storage front serves filesystems and paths; account-level operations are not emulated."
            return storage_error(request, 400, "UnsupportedOperation", message)
        denied = authorize(self.world, request, claims, account, filesystem, path)
        if denied is not None:
            return denied
        self.await_account(account.name)
        container = container_name(account.name, filesystem)
        if request.q("resource") == "filesystem" and request.method == "GET":
            return self.list_paths(request, container)
        if is_dfs(request) and (request.q("resource") or request.q("action")):
            message = "The sandbox storage front serves List Paths and reads on the DFS endpoint; write through the blob API."
            return storage_error(request, 400, "UnsupportedOperation", message)
        answer = self.proxy.forward(request, container, path)
        if answer.status >= 400 and is_dfs(request):
            return self._as_dfs_error(request, answer)
        return answer

    def list_paths(self, request: Request, container: str) -> Response:
        recursive = (request.q("recursive") or "").lower()
        if recursive not in ("true", "false"):
            message = "The value for one of the query parameters specified in the request URI is invalid: recursive."
            return storage_error(request, 400, "InvalidQueryParameterValue", message)
        directory = (request.q("directory") or "").strip("/")
        try:
            blobs = [
                BlobRecord(b.name, b.size or 0, b.last_modified, b.etag, b.creation_time or b.last_modified)
                for b in self.blobs.get_container_client(container).list_blobs(
                    name_starts_with=f"{directory}/" if directory else None
                )
            ]
        except ResourceNotFoundError:
            return storage_error(request, 404, "FilesystemNotFound", DFS_MESSAGES["FilesystemNotFound"])
        entries = list_paths(blobs, directory, recursive == "true")
        if entries is None:
            return storage_error(request, 404, "PathNotFound", DFS_MESSAGES["PathNotFound"])
        max_results = int(request.q("maxResults") or DEFAULT_MAX_RESULTS)
        chunk, token = page(entries, request.q("continuation"), max_results)
        headers = {"x-ms-continuation": token} if token else {}
        body: dict[str, Any] = {"paths": chunk}
        return Response(status=200, body=body, headers=headers)

    def _as_dfs_error(self, request: Request, answer: Response) -> Response:
        code = next((v for k, v in answer.headers.items() if k.lower() == "x-ms-error-code"), "")
        dfs_code = DFS_CODES.get(code, code or "InternalError")
        message = DFS_MESSAGES.get(dfs_code, f"Storage answered {answer.status} {code}.")
        return storage_error(request, answer.status, dfs_code, message)
