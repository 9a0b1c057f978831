"""Publishing what the product ships: ``templates/`` as the package zip (what a Marketplace plan or a service catalog
definition's ``packageFileUri`` takes: mainTemplate.json and createUiDefinition.json at its root) and the service
catalog application definition (``Microsoft.Solutions/applicationDefinitions``) customers deploy from.

The zip is deterministic (sorted entries, fixed timestamps and modes), so unchanged templates give the same bytes
and the same sha256. The definition carries the template and the UI definition inline (the REST API's
``mainTemplate``/``createUiDefinition``: no storage account to keep), the lock level, the publisher's authorization,
the notification endpoint and two tags: ``version`` (definitions have no version property) and ``packageSha256``.
It is written only when what ARM has differs from that, so a re-run with nothing changed writes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.mgmt.resource.resources import ResourceManagementClient

from .azure.clients import make_client
from .azure.managed_app import SOLUTIONS_API_VERSION, get_application
from .errors import InvalidSpecError, from_azure
from .ids import ResourceId
from .redact import register_secret
from .settings import REPOSITORY, Settings

TEMPLATES = REPOSITORY / "templates"
DEFAULT_PACKAGE_PATH = REPOSITORY / "dist" / "app.zip"
REQUIRED_FILES = ("mainTemplate.json", "createUiDefinition.json")
DEFINITION_TYPE = "Microsoft.Solutions/applicationDefinitions"
DISPLAY_NAME = "AKS managed application"
STEP = "publish"
# 1980-01-01, the earliest time a zip entry can carry: no build time leaks into the bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_COMPARED = (
    "lockLevel",
    "isEnabled",
    "displayName",
    "description",
    "authorizations",
    "mainTemplate",
    "createUiDefinition",
    "notificationPolicy",
)
# Compared only when ARM answers them back: where it keeps an inline package to itself, the packageSha256 tag (a hash
# of every file of the package) still tells a changed package.
_INLINE_PACKAGE = {"mainTemplate", "createUiDefinition"}


@dataclass(frozen=True)
class Package:
    data: bytes
    sha256: str
    main_template: dict[str, Any]
    create_ui_definition: dict[str, Any]

    @property
    def content_version(self) -> str:
        return str(self.main_template.get("contentVersion", ""))


@dataclass
class PublishResult:
    definition_id: str
    version: str
    package_sha256: str
    package_path: str
    package_written: bool
    # created, updated, unchanged (with dry_run: what would be done)
    action: str
    changed: list[str] = field(default_factory=list)
    notification_endpoint: str | None = None
    dry_run: bool = False


def build_package(templates: Path = TEMPLATES) -> Package:
    """Zip the files at the top of ``templates`` (the two required ones at the root); earlier template versions,
    kept in sub-folders named after their version for customers still on them, are not part of this package."""
    files = sorted(p for p in templates.iterdir() if p.is_file())
    names = {p.relative_to(templates).as_posix() for p in files}
    missing = [name for name in REQUIRED_FILES if name not in names]
    if missing:
        raise InvalidSpecError(f"the package folder {templates} lacks {', '.join(missing)}", step=STEP)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(templates).as_posix(), date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    data = buffer.getvalue()
    return Package(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        main_template=_json(templates / "mainTemplate.json"),
        create_ui_definition=_json(templates / "createUiDefinition.json"),
    )


def _json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except ValueError as exc:
        raise InvalidSpecError(f"{path} is not well-formed JSON: {exc}", step=STEP) from None
    if not isinstance(document, dict):
        raise InvalidSpecError(f"{path} must hold a JSON object", step=STEP)
    return document


def write_package(package: Package, path: Path, *, dry_run: bool) -> bool:
    """Write the zip unless the file already holds these bytes; whether it was (or would be) written."""
    if path.is_file() and path.read_bytes() == package.data:
        return False
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(package.data)
    return True


def notification_endpoint(settings: Settings) -> str | None:
    """``<receiver public url>/notifications?sig=<secret>`` when the receiver has a public URL, else none."""
    if not settings.receiver_public_url:
        return None
    if settings.receiver_notification_secret is None:
        raise InvalidSpecError(
            "ONBOARDING_RECEIVER_PUBLIC_URL is set but ONBOARDING_RECEIVER_NOTIFICATION_SECRET is not: the "
            "receiver would refuse every notification",
            step=STEP,
            hint="set the receiver's notification secret in both, or unset the public URL",
        )
    secret = settings.receiver_notification_secret.get_secret_value()
    register_secret(secret)
    return f"{settings.receiver_public_url.rstrip('/')}/notifications?sig={quote(secret, safe='')}"


def version_of(package: Package, settings: Settings) -> str:
    return settings.definition_version or package.content_version


def desired_properties(package: Package, settings: Settings, endpoint: str | None) -> dict[str, Any]:
    if not settings.publisher_principal_id:
        raise InvalidSpecError(
            "publishing needs the publisher's principal for the definition's authorization",
            step=STEP,
            hint="set ONBOARDING_PUBLISHER_PRINCIPAL_ID (and ONBOARDING_PUBLISHER_ROLE_DEFINITION_ID, default Owner)",
        )
    properties: dict[str, Any] = {
        "lockLevel": settings.definition_lock_level,
        "isEnabled": True,
        "displayName": DISPLAY_NAME,
        "description": str(package.main_template.get("metadata", {}).get("description", "")),
        "authorizations": [
            {
                "principalId": settings.publisher_principal_id,
                "roleDefinitionId": settings.publisher_role_definition_id,
            }
        ],
        "mainTemplate": package.main_template,
        "createUiDefinition": package.create_ui_definition,
    }
    if endpoint is not None:
        properties["notificationPolicy"] = {"notificationEndpoints": [{"uri": endpoint}]}
    return properties


def _comparable(name: str, value: Any) -> Any:
    """A property as compared: authorizations as (principal, role GUID) pairs, case-insensitively."""
    if name == "authorizations":
        return sorted(
            (
                str(a.get("principalId", "")).lower(),
                str(a.get("roleDefinitionId", "")).rsplit("/", 1)[-1].lower(),
            )
            for a in value or []
        )
    if name == "lockLevel":
        return str(value or "").lower()
    return value


def differences(desired: dict[str, Any], current: dict[str, Any] | None) -> list[str]:
    """The names of what the definition ARM has differs in from the desired body (all of them when none)."""
    if current is None:
        return ["definition"]
    props = current.get("properties") or {}
    changed = [
        name
        for name in _COMPARED
        if not (name in _INLINE_PACKAGE and name not in props)
        and _comparable(name, desired["properties"].get(name)) != _comparable(name, props.get(name))
    ]
    tags = current.get("tags") or {}
    changed += [f"tags.{k}" for k, v in desired["tags"].items() if tags.get(k) != v]
    return changed


def _definition_id(settings: Settings) -> ResourceId:
    raw = settings.application_definition_id
    definition = ResourceId(raw or "")
    if not definition.valid or (definition.resource_type or "").lower() != DEFINITION_TYPE.lower():
        raise InvalidSpecError(
            "publishing needs the definition's id",
            step=STEP,
            hint="set ONBOARDING_APPLICATION_DEFINITION_ID to /subscriptions/<sub>/resourceGroups/<rg>/providers/"
            "Microsoft.Solutions/applicationDefinitions/<name> (the definition customers deploy by default)",
        )
    return definition


def _get(client: ResourceManagementClient, definition_id: str) -> dict[str, Any] | None:
    """The definition as ARM has it, or None when it is not there (the same rule as an application's)."""
    found = get_application(client, definition_id)
    return None if found is None else dict(found.as_dict())


def publish(
    settings: Settings,
    credential: TokenCredential,
    *,
    dry_run: bool = False,
    package_path: Path = DEFAULT_PACKAGE_PATH,
    templates: Path = TEMPLATES,
) -> PublishResult:
    """Package ``templates`` into ``package_path`` and create or update the definition; with ``dry_run`` only
    say what would be written."""
    definition = _definition_id(settings)
    package = build_package(templates)
    endpoint = notification_endpoint(settings)
    properties = desired_properties(package, settings, endpoint)
    written = write_package(package, package_path, dry_run=dry_run)
    version = version_of(package, settings)
    client = make_client(ResourceManagementClient, credential, str(definition.subscription), settings)
    action = "reading the application definition"
    try:
        current = _get(client, str(definition))
        if current is not None:
            location = current.get("location")
        else:
            action = "reading the definition's resource group"
            group = str(definition.resource_group)
            location = settings.definition_location or client.resource_groups.get(group).location
        desired = {
            "location": location,
            "tags": {
                **((current or {}).get("tags") or {}),
                "version": version,
                "packageSha256": package.sha256,
            },
            "properties": properties,
        }
        changed = differences(desired, current)
        if changed and not dry_run:
            action = "writing the application definition"
            client.resources.begin_create_or_update_by_id(
                str(definition), desired, api_version=SOLUTIONS_API_VERSION
            ).result()
    except AzureError as exc:
        raise from_azure(exc, customer=None, step=STEP, action=action) from None
    return PublishResult(
        definition_id=str(definition),
        version=version,
        package_sha256=package.sha256,
        package_path=str(package_path),
        package_written=written,
        action="unchanged" if not changed else "created" if current is None else "updated",
        changed=changed if current is not None else [],
        notification_endpoint=endpoint.split("?", 1)[0] if endpoint else None,
        dry_run=dry_run,
    )


def summary(result: PublishResult) -> str:
    """A few lines for the command line and the flow's log (the endpoint without its secret query)."""
    would = "would be " if result.dry_run else ""
    lines = [
        f"package {result.package_path}: sha256 {result.package_sha256} "
        f"({would + 'written' if result.package_written else 'unchanged'})",
        f"definition {result.definition_id} version {result.version}: "
        f"{would if result.action != 'unchanged' else ''}{result.action}"
        + (f" ({', '.join(result.changed)})" if result.changed else ""),
        f"notification endpoint: {result.notification_endpoint or 'none (ONBOARDING_RECEIVER_PUBLIC_URL unset)'}",
    ]
    return "\n".join(lines)
