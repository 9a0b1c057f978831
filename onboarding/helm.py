"""The aad-pod-identity chart through pyhelm3 and a real helm binary: installed by onboarding, uninstalled by
offboarding when this product installed it.

Reconcile: read the release first (``helm status`` + ``helm get values``); when the deployed chart version and the
user-supplied values already match, nothing is run that writes (a re-run makes no helm release). Values go to helm
as JSON on stdin (pyhelm3), never to disk. ``disable_validation`` is never passed (pyhelm3 splits that flag).

A helm killed mid-operation (a lost worker) leaves the release pending-install/-upgrade/-rollback, and helm then
refuses every later operation ("another operation is in progress") for ever. A release pending for longer than
``helm_stale_lock_s`` is taken as left that way and recovered first (pyhelm3: uninstall a pending install, roll
back a pending upgrade or rollback); a younger one may be a live operation, so it stays a transient error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import shutil
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pyhelm3
from pyhelm3 import errors as helm_errors

from .changes import Change
from .errors import OnboardingError, PermanentError, TransientError
from .models import ChartSource, PodIdentityMode
from .settings import Settings

T = TypeVar("T")

# pyhelm3 warns on every non-zero helm exit, including the expected "release: not found" of a first install; the
# product raises its own classified error for the failures that matter, so those warnings are only noise.
logging.getLogger("pyhelm3.command").setLevel(logging.ERROR)

TRANSIENT_TEXT = re.compile(
    r"another operation \(install/upgrade/rollback\) is in progress|connection refused|i/o timeout|"
    r"timed out|tls handshake timeout|connection reset|unexpected eof|\beof\b|too many requests|"
    r"service unavailable|internal error|the server is currently unable|context deadline exceeded|"
    r"etcdserver|no such host|temporary failure in name resolution",
)
AUTH_TEXT = re.compile(r"forbidden|unauthorized|401|403")
PENDING = {"pending-install", "pending-upgrade", "pending-rollback", "uninstalling"}


@dataclass
class HelmOutcome:
    action: (
        Change  # installed, upgraded, unchanged, would install, would upgrade; uninstalled, would uninstall,
    )
    # absent, not ours
    release: str
    namespace: str
    chart_version: str
    revision: int | None
    seconds: float
    reason: str = ""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a pyhelm3 coroutine from sync code, also when the caller already has a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def chart_values(chart: ChartSource, mode: PodIdentityMode) -> dict[str, Any]:
    """The chart values a customer's spec asks for (forceNamespaced is a string in this chart)."""
    managed = mode == PodIdentityMode.AAD_POD_IDENTITY_MANAGED
    return {
        "nmi": {"allowNetworkPluginKubenet": bool(chart.allow_kubenet)},
        "operationMode": "managed" if managed else "standard",
        "forceNamespaced": "true" if managed else "false",
    }


def chart_ref(chart: ChartSource, settings: Settings) -> tuple[str, str | None]:
    """(chart reference, repository URL or None): ``oci://...`` references carry no --repo."""
    if chart.oci_reference:
        return chart.oci_reference, None
    return chart.name, (chart.repository or settings.default_chart_repository)


def where(chart: ChartSource, settings: Settings) -> str:
    ref, repo = chart_ref(chart, settings)
    return repo or ref


def map_helm_error(
    exc: Exception, *, chart: ChartSource, settings: Settings, customer: str, step: str, action: str
) -> OnboardingError:
    kw: dict[str, Any] = {"customer": customer, "step": step}
    stderr = exc.stderr.decode("utf-8", "replace").strip() if isinstance(exc, helm_errors.Error) else str(exc)
    stderr = stderr.removeprefix("Error: ")[:800]
    if isinstance(exc, helm_errors.ChartNotFoundError):
        return PermanentError(
            f"chart {chart.name} version {chart.version} not found in {where(chart, settings)}",
            hint="check chart.repository/version (or chart.oci_reference) in the customer spec",
            **kw,
        )
    if isinstance(exc, helm_errors.ConnectionError | helm_errors.CommandCancelledError):
        return TransientError(f"{action}: helm could not reach the cluster: {stderr}", **kw)
    if isinstance(exc, helm_errors.FailedToRenderChartError | helm_errors.InvalidResourceError):
        return PermanentError(
            f"{action}: the chart does not render/apply with these values: {stderr}",
            hint="check the chart version and the values it expects",
            **kw,
        )
    if isinstance(exc, helm_errors.ResourceAlreadyExistsError):
        return PermanentError(
            f"{action}: objects of the chart already exist outside this release: {stderr}",
            hint="aad-pod-identity was installed by hand or under another release name; "
            "set chart.release/namespace to it or remove it",
            **kw,
        )
    lowered = stderr.lower()
    if TRANSIENT_TEXT.search(lowered):
        return TransientError(f"{action}: {stderr}", **kw)
    if (
        "is not a valid chart repository" in lowered
        or "failed to fetch" in lowered
        or "404 not found" in lowered
    ):
        return PermanentError(f"{action}: {stderr}", hint="check chart.repository in the customer spec", **kw)
    if AUTH_TEXT.search(lowered):
        return PermanentError(
            f"{action}: {stderr}", hint="the cluster credentials lack rights to install", **kw
        )
    return PermanentError(f"{action}: {stderr}", **kw)


def make_client(*, settings: Settings, kubeconfig: Path) -> pyhelm3.Client:
    return pyhelm3.Client(executable=settings.helm_executable, kubeconfig=kubeconfig)


async def _current(
    client: pyhelm3.Client, *, chart: ChartSource, settings: Settings, dry_run: bool
) -> tuple[str, str, dict[str, Any], int] | None:
    """(status, chart version, user-supplied values, revision) of the chart's deployed release, None when
    absent; a release pending for more than ``settings.helm_stale_lock_s`` is recovered first, except in a dry
    run (module doc)."""
    release, namespace = chart.release, chart.namespace
    recover_after_s = None if dry_run else settings.helm_stale_lock_s
    try:
        revision = await client.get_current_revision(release, namespace=namespace)
        pending = revision.status.value in PENDING
        if pending and recover_after_s is not None and _age_s(revision.updated) > recover_after_s:
            await client.get_proceedable_revision(release, namespace=namespace)
            revision = await client.get_current_revision(release, namespace=namespace)
    except helm_errors.ReleaseNotFoundError:
        return None
    metadata = await revision.chart_metadata()
    values = await revision.values()
    return str(revision.status.value), str(metadata.version), dict(values or {}), int(revision.revision)


def _age_s(updated: datetime) -> float:
    return (datetime.now(UTC) - (updated if updated.tzinfo else updated.replace(tzinfo=UTC))).total_seconds()


async def _ensure(
    client: pyhelm3.Client,
    *,
    chart: ChartSource,
    values: dict[str, Any],
    settings: Settings,
    dry_run: bool,
    customer: str,
    step: str,
) -> HelmOutcome:
    started = time.monotonic()
    release, namespace = chart.release, chart.namespace
    wanted_version = chart.version.removeprefix("v")
    action = f"read release {namespace}/{release}"
    try:
        current = await _current(client, chart=chart, settings=settings, dry_run=dry_run)
        if current is not None:
            status, version, have_values, revision = current
            if status == "deployed" and version.removeprefix("v") == wanted_version and have_values == values:
                return HelmOutcome(
                    Change.UNCHANGED, release, namespace, version, revision, time.monotonic() - started
                )
            reason = (
                f"status {status}"
                if status != "deployed"
                else f"chart {version} -> {chart.version}"
                if version.removeprefix("v") != wanted_version
                else "values differ"
            )
        else:
            reason = "not installed"
        verb = "install" if current is None else "upgrade"
        planned = Change.WOULD_INSTALL if current is None else Change.WOULD_UPGRADE
        ref, repo = chart_ref(chart, settings)
        action = f"resolve chart {chart.name} {chart.version}"
        resolved = await client.get_chart(ref, repo=repo, version=chart.version)
        if dry_run:
            return HelmOutcome(
                planned,
                release,
                namespace,
                str(resolved.metadata.version),
                None,
                time.monotonic() - started,
                reason,
            )
        action = f"{verb} release {namespace}/{release} (chart {chart.name} {chart.version})"
        revision_after = await client.install_or_upgrade_release(
            release, resolved, values, namespace=namespace, create_namespace=True, atomic=False, wait=False
        )
    except helm_errors.Error as exc:
        raise map_helm_error(
            exc, chart=chart, settings=settings, customer=customer, step=step, action=action
        ) from None
    return HelmOutcome(
        planned.applied,
        release,
        namespace,
        str(resolved.metadata.version),
        int(revision_after.revision),
        time.monotonic() - started,
        reason,
    )


def _helm_client(*, settings: Settings, kubeconfig: Path, customer: str, step: str) -> pyhelm3.Client:
    configured = settings.helm_executable
    executable = shutil.which(configured)
    if executable is None:
        raise PermanentError(
            f"helm not found: {configured!r} is neither an executable file nor a command on PATH",
            customer=customer,
            step=step,
            hint="run `make install` (it installs .tools/bin/helm) or set ONBOARDING_HELM_EXECUTABLE to a "
            "helm >= 3.8",
        )
    try:
        return make_client(
            settings=settings.model_copy(update={"helm_executable": executable}), kubeconfig=kubeconfig
        )
    except (AssertionError, OSError, ValueError) as exc:
        raise PermanentError(
            f"helm is not usable ({executable}): {exc}",
            customer=customer,
            step=step,
            hint="install helm >= 3.8 or set ONBOARDING_HELM_EXECUTABLE",
        ) from None


def ensure_release(
    *,
    settings: Settings,
    kubeconfig: Path,
    chart: ChartSource,
    values: dict[str, Any],
    customer: str,
    step: str,
    dry_run: bool,
) -> HelmOutcome:
    """Install or upgrade the chart's release unless the deployed one already has this version and values."""
    client = _helm_client(settings=settings, kubeconfig=kubeconfig, customer=customer, step=step)
    return run_sync(
        _ensure(
            client,
            chart=chart,
            values=values,
            settings=settings,
            dry_run=dry_run,
            customer=customer,
            step=step,
        )
    )


def product_values(chart: ChartSource) -> list[dict[str, Any]]:
    """The user-supplied values this product installs the chart with, in either aad-pod-identity mode."""
    modes = (PodIdentityMode.AAD_POD_IDENTITY_MANAGED, PodIdentityMode.AAD_POD_IDENTITY_STANDARD)
    return [chart_values(chart, mode) for mode in modes]


async def _uninstall(
    client: pyhelm3.Client, *, chart: ChartSource, settings: Settings, dry_run: bool, customer: str, step: str
) -> HelmOutcome:
    started = time.monotonic()
    release, namespace = chart.release, chart.namespace
    action = f"read release {namespace}/{release}"
    try:
        current = await _current(client, chart=chart, settings=settings, dry_run=dry_run)
        if current is None:
            return HelmOutcome(Change.ABSENT, release, namespace, "", None, time.monotonic() - started)
        _, version, values, revision = current
        if values not in product_values(chart):
            reason = "its values are not the ones this product installs with: not ours"
            return HelmOutcome(
                Change.NOT_OURS, release, namespace, version, revision, time.monotonic() - started, reason
            )
        if not dry_run:
            action = f"uninstall release {namespace}/{release}"
            await client.uninstall_release(release, namespace=namespace, wait=False)
    except helm_errors.Error as exc:
        raise map_helm_error(
            exc, chart=chart, settings=settings, customer=customer, step=step, action=action
        ) from None
    done = Change.WOULD_UNINSTALL if dry_run else Change.UNINSTALLED
    return HelmOutcome(done, release, namespace, version, revision, time.monotonic() - started)


def uninstall_release(
    *, settings: Settings, kubeconfig: Path, chart: ChartSource, customer: str, step: str, dry_run: bool
) -> HelmOutcome:
    """Uninstall the chart's release when this product installed it (its values are exactly the product's);
    a release installed by anyone else, or absent, is left as it is (action "not ours" / "absent")."""
    client = _helm_client(settings=settings, kubeconfig=kubeconfig, customer=customer, step=step)
    return run_sync(
        _uninstall(client, chart=chart, settings=settings, dry_run=dry_run, customer=customer, step=step)
    )
