"""The sandbox storage stack (Azurite + the DFS front) driven by the real Azure Storage SDKs and by plain HTTP
as the seed's curl does. The world (tenant, subscription, storage account, role assignments) is built
in-process, so these tests need neither ARM nor the token endpoint."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.filedatalake import DataLakeServiceClient

from sandbox import authz
from sandbox.certs import make_certificates
from sandbox.profiles import timing_for
from sandbox.state import Principal, RoleAssignment, Subscription, Tenant, World, new_guid
from sandbox.storage import StorageStack
from sandbox.storage.naming import MAX_CONTAINER_NAME, container_name
from sandbox.storage.stack import SAMPLE_CSV

pytestmark = pytest.mark.integration

TENANT = "11111111-1111-1111-1111-111111111111"
SUBSCRIPTION = "22222222-2222-2222-2222-222222222222"
RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/mrg-customer"
ACCOUNT = "custdata01"
ACCOUNT_ID = f"{RG}/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"


class SandboxTokenCredential:
    """An azure-core TokenCredential whose tokens the sandbox signer mints (what the token endpoint would issue)."""

    def __init__(
        self, world: World, principal: Principal, audience: str = "https://storage.azure.com/"
    ) -> None:
        self.world = world
        self.principal = principal
        self.audience = audience

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = self.world.signer.mint(
            audience=self.audience,
            tenant_id=self.principal.tenant_id,
            object_id=self.principal.object_id,
            app_id=self.principal.client_id,
        )
        return AccessToken(token, int(time.time()) + 3600)


@dataclass
class Env:
    world: World
    stack: StorageStack
    ca: str
    reader: Principal
    nobody: Principal

    @property
    def account_url(self) -> str:
        return f"{self.stack.url}/{ACCOUNT}/"

    def token(self, principal: Principal, audience: str = "https://storage.azure.com/") -> str:
        return SandboxTokenCredential(self.world, principal, audience).get_token().token

    def get(
        self, path: str, token: str | None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """A plain HTTPS GET, as curl in the seed README sends it."""
        request = urllib.request.Request(f"{self.stack.url}/{ACCOUNT}/{path}", headers=dict(headers or {}))
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()


def _principal(world: World, name: str) -> Principal:
    return world.add_principal(Principal(new_guid(), TENANT, "ManagedIdentity", new_guid(), name))


def grant(
    world: World, principal: Principal, role_guid: str, scope: str, effective_in_s: float = 0.0
) -> None:
    ra = RoleAssignment(
        scope=scope,
        name=new_guid(),
        role_definition_id=authz.role_definition_id(SUBSCRIPTION, role_guid),
        principal_id=principal.object_id,
        principal_type="ServicePrincipal",
        effective_at=time.time() + effective_in_s,
    )
    with world.lock:
        world.role_assignments[ra.id.lower()] = ra


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    state_dir = tmp_path_factory.mktemp("storage")
    world = World(timing_for("fast"))
    certs = make_certificates(state_dir / "tls")
    world.urls["ca_bundle"] = str(certs.ca_bundle)
    world.tenants[TENANT] = Tenant(TENANT, "customer")
    world.subscriptions[SUBSCRIPTION] = Subscription(SUBSCRIPTION, TENANT, "customer")
    for role in authz.BUILTIN_ROLES:
        world.role_definitions[role.id] = role
    world.put(
        {
            "id": ACCOUNT_ID,
            "name": ACCOUNT,
            "type": "Microsoft.Storage/storageAccounts",
            "kind": "StorageV2",
            "properties": {"isHnsEnabled": True},
        }
    )
    stack = StorageStack(world, certs, state_dir).start()
    world.urls["storage"] = stack.url
    world.publish("storage.created", account_id=ACCOUNT_ID, name=ACCOUNT)
    reader = _principal(world, "probe-identity")
    grant(world, reader, authz.STORAGE_BLOB_DATA_READER, RG)  # above the account scope
    yield Env(world, stack, str(certs.ca_bundle), reader, _principal(world, "no-role"))
    stack.stop()


def test_new_account_gets_default_filesystems(env: Env) -> None:
    started = time.monotonic()
    env.world.publish(
        "storage.created", account_id=f"{RG}/providers/Microsoft.Storage/storageAccounts/fresh", name="fresh"
    )
    env.stack.await_account("fresh")
    print(f"figure storage_account_ready {time.monotonic() - started:.2f} s")
    assert env.stack.list_files("fresh", "data") == ["folder1/t1.csv"]
    assert env.stack.list_files("fresh", "folder1") == ["t1.csv"]


def test_seed_curl_list_paths_and_read(env: Env) -> None:
    token = env.token(env.reader)
    status, headers, body = env.get("folder1?recursive=false&resource=filesystem", token)
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    paths = json.loads(body)["paths"]
    assert [p["name"] for p in paths] == ["t1.csv"]
    assert paths[0]["contentLength"] == str(len(SAMPLE_CSV)) and "isDirectory" not in paths[0]
    assert paths[0]["etag"] and paths[0]["lastModified"].endswith("GMT")
    status, _, body = env.get("folder1/t1.csv", token)
    assert (status, body) == (200, SAMPLE_CSV)
    status, _, body = env.get("data/folder1/t1.csv", token, {"Range": "bytes=0-1"})
    assert (status, body) == (206, SAMPLE_CSV[:2])


def test_list_paths_synthesises_directories(env: Env) -> None:
    for path in ("logs/2024/01/a.txt", "logs/2024/02/b.txt", "logs/readme.md", "top.txt"):
        env.stack.put_file(ACCOUNT, "tree", path, b"x")
    token = env.token(env.reader)
    _, _, body = env.get("tree?resource=filesystem&recursive=false", token)
    top = {p["name"]: p.get("isDirectory") for p in json.loads(body)["paths"]}
    assert top == {"logs": "true", "top.txt": None}
    _, _, body = env.get("tree?resource=filesystem&recursive=true&directory=logs", token)
    assert [p["name"] for p in json.loads(body)["paths"]] == [
        "logs/2024",
        "logs/2024/01",
        "logs/2024/01/a.txt",
        "logs/2024/02",
        "logs/2024/02/b.txt",
        "logs/readme.md",
    ]
    status, headers, body = env.get("tree?resource=filesystem&recursive=true&maxResults=4", token)
    assert status == 200 and len(json.loads(body)["paths"]) == 4
    token_next = headers["x-ms-continuation"]
    _, headers, body = env.get(f"tree?resource=filesystem&recursive=true&continuation={token_next}", token)
    assert [p["name"] for p in json.loads(body)["paths"]] == [
        "logs/2024/02",
        "logs/2024/02/b.txt",
        "logs/readme.md",
        "top.txt",
    ]
    assert "x-ms-continuation" not in headers


def test_datalake_sdk_lists_and_downloads(env: Env) -> None:
    service = DataLakeServiceClient(
        env.account_url, credential=SandboxTokenCredential(env.world, env.reader), connection_verify=env.ca
    )
    fs = service.get_file_system_client("data")
    paths = list(fs.get_paths(recursive=True))
    assert [(p.name, bool(p.is_directory)) for p in paths] == [("folder1", True), ("folder1/t1.csv", False)]
    assert paths[1].content_length == len(SAMPLE_CSV)
    assert [p.name for p in fs.get_paths(path="folder1", recursive=False)] == ["folder1/t1.csv"]
    file = fs.get_file_client("folder1/t1.csv")
    assert file.download_file().readall() == SAMPLE_CSV
    assert file.get_file_properties().size == len(SAMPLE_CSV)
    assert file.download_file(offset=3, length=4).readall() == SAMPLE_CSV[3:7]


def test_blob_sdk_downloads_and_contributor_uploads(env: Env) -> None:
    url = env.account_url
    reader_blobs = BlobServiceClient(
        url, credential=SandboxTokenCredential(env.world, env.reader), connection_verify=env.ca
    )
    blob = reader_blobs.get_blob_client("data", "folder1/t1.csv")
    assert blob.download_blob().readall() == SAMPLE_CSV
    with pytest.raises(HttpResponseError) as denied:
        reader_blobs.get_blob_client("data", "new.csv").upload_blob(b"a,b\n")
    assert denied.value.status_code == 403 and denied.value.error_code == "AuthorizationPermissionMismatch"
    writer = _principal(env.world, "writer")
    grant(env.world, writer, authz.STORAGE_BLOB_DATA_CONTRIBUTOR, ACCOUNT_ID)
    writer_blobs = BlobServiceClient(
        url, credential=SandboxTokenCredential(env.world, writer), connection_verify=env.ca
    )
    writer_blobs.get_blob_client("data", "new.csv").upload_blob(b"a,b\n", overwrite=True)
    assert "new.csv" in env.stack.list_files(ACCOUNT, "data")
    assert blob.get_blob_properties().size == len(SAMPLE_CSV)


def test_missing_token_is_401_with_challenge(env: Env) -> None:
    status, headers, body = env.get("data?resource=filesystem&recursive=false", None)
    assert status == 401
    assert json.loads(body)["error"]["code"] == "NoAuthenticationInformation"
    assert headers["x-ms-error-code"] == "NoAuthenticationInformation"
    assert f"/{TENANT}/oauth2/authorize" in headers["WWW-Authenticate"]


def test_wrong_audience_is_401(env: Env) -> None:
    status, headers, body = env.get(
        "data/folder1/t1.csv", env.token(env.reader, "https://management.azure.com/")
    )
    assert status == 401 and headers["x-ms-error-code"] == "InvalidAuthenticationInfo"
    assert "Audience" in json.loads(body)["error"]["message"]
    service = DataLakeServiceClient(
        env.account_url,
        connection_verify=env.ca,
        credential=SandboxTokenCredential(env.world, env.reader, "https://vault.azure.net"),
    )
    with pytest.raises(ClientAuthenticationError):
        list(service.get_file_system_client("data").get_paths())


def test_token_of_another_tenant_is_401(env: Env) -> None:
    stranger = Principal(
        new_guid(), "33333333-3333-3333-3333-333333333333", "ServicePrincipal", new_guid(), "x"
    )
    status, headers, _ = env.get("data/folder1/t1.csv", env.token(stranger))
    assert status == 401 and headers["x-ms-error-code"] == "InvalidAuthenticationInfo"


def test_no_role_is_403(env: Env) -> None:
    status, _, body = env.get("data?resource=filesystem&recursive=false", env.token(env.nobody))
    assert status == 403
    assert json.loads(body)["error"]["code"] == "AuthorizationPermissionMismatch"
    service = DataLakeServiceClient(
        env.account_url, credential=SandboxTokenCredential(env.world, env.nobody), connection_verify=env.ca
    )
    with pytest.raises(HttpResponseError) as denied:
        service.get_file_system_client("data").get_file_client("folder1/t1.csv").download_file()
    assert denied.value.status_code == 403 and denied.value.error_code == "AuthorizationPermissionMismatch"


def test_role_not_yet_propagated_is_403_then_ok(env: Env) -> None:
    late = _principal(env.world, "late")
    grant(env.world, late, authz.STORAGE_BLOB_DATA_READER, ACCOUNT_ID, effective_in_s=0.5)
    token = env.token(late)
    assert env.get("data/folder1/t1.csv", token)[0] == 403
    deadline = time.monotonic() + 5
    while env.get("data/folder1/t1.csv", token)[0] != 200:
        assert time.monotonic() < deadline, "the role never took effect"
        time.sleep(0.1)


def test_role_on_another_account_does_not_count(env: Env) -> None:
    elsewhere = _principal(env.world, "elsewhere")
    grant(
        env.world,
        elsewhere,
        authz.STORAGE_BLOB_DATA_READER,
        f"{RG}/providers/Microsoft.Storage/storageAccounts/other",
    )
    assert env.get("data/folder1/t1.csv", env.token(elsewhere))[0] == 403


def test_missing_path_and_filesystem_are_404(env: Env) -> None:
    token = env.token(env.reader)
    status, headers, body = env.get("data/folder1/absent.csv", token)
    assert status == 404 and headers["x-ms-error-code"] == "PathNotFound"
    assert json.loads(body)["error"]["code"] == "PathNotFound"
    probe_style = {"x-ms-version": "2023-11-03"}  # what probe/probe.py sends, with urllib's User-Agent
    status, headers, body = env.get("data/folder1/absent.csv", token, probe_style)
    assert status == 404 and json.loads(body)["error"]["code"] == "PathNotFound"
    status, headers, body = env.get("data?resource=filesystem&recursive=true&directory=nope", token)
    assert status == 404 and json.loads(body)["error"]["code"] == "PathNotFound"
    status, headers, body = env.get("nofs?resource=filesystem&recursive=false", token)
    assert status == 404 and json.loads(body)["error"]["code"] == "FilesystemNotFound"
    assert env.get("nofs/a.csv", token)[1]["x-ms-error-code"] == "FilesystemNotFound"
    service = DataLakeServiceClient(
        env.account_url, credential=SandboxTokenCredential(env.world, env.reader), connection_verify=env.ca
    )
    with pytest.raises(ResourceNotFoundError):
        list(service.get_file_system_client("nofs").get_paths())
    with pytest.raises(ResourceNotFoundError):
        service.get_file_system_client("data").get_file_client("absent.csv").download_file()
    blobs = BlobServiceClient(
        env.account_url, credential=SandboxTokenCredential(env.world, env.reader), connection_verify=env.ca
    )
    with pytest.raises(ResourceNotFoundError) as missing:
        blobs.get_blob_client("data", "absent.csv").download_blob()
    assert missing.value.error_code == "BlobNotFound"  # the blob endpoint's own code


def test_unknown_account_is_404(env: Env) -> None:
    request_path = env.stack.url + "/noaccount/data?resource=filesystem&recursive=false"
    request = urllib.request.Request(
        request_path, headers={"Authorization": f"Bearer {env.token(env.reader)}"}
    )
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=env.ca), timeout=10)
    assert missing.value.code == 404


def test_container_names_are_deterministic_and_valid() -> None:
    assert container_name("Acct", "fs") == "acct-fs"
    long_fs = "f" * 63
    name = container_name("acct", long_fs)
    assert len(name) == MAX_CONTAINER_NAME and name == container_name("acct", long_fs)
    assert name != container_name("acct", "g" * 63)


def test_stop_leaves_no_azurite(tmp_path: Path) -> None:
    world = World(timing_for("fast"))
    stack = StorageStack(world, make_certificates(tmp_path / "tls"), tmp_path).start()
    pid = stack.azurite.proc.pid if stack.azurite.proc else 0
    print(f"figure azurite_start {stack.azurite.started_in_s:.2f} s")
    stack.stop()
    alive = subprocess.run(
        ["ps", "-o", "pid=", "-g", str(pid)], capture_output=True, text=True
    ).stdout.split()
    assert alive == []
