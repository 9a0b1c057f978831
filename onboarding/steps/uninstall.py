"""Uninstalling the aad-pod-identity chart release when this product installed it (offboarding, and a migration
once pod identity is no longer used): a release installed by anyone else, or absent, is left as it is."""

from __future__ import annotations

from ..changes import Change
from ..context import CustomerContext
from ..helm import uninstall_release
from ..kube.kubeconfig import ClusterAccess
from . import StepRecorder


def uninstall_chart(ctx: CustomerContext, rec: StepRecorder, access: ClusterAccess, *, step: str) -> None:
    outcome = uninstall_release(
        settings=ctx.settings,
        kubeconfig=access.kubeconfig_path,
        chart=ctx.spec.chart,
        customer=ctx.spec.name,
        step=step,
        dry_run=rec.dry_run,
    )
    what = f"helm release {outcome.namespace}/{outcome.release}"
    if outcome.action in (Change.UNINSTALLED, Change.WOULD_UNINSTALL):
        rec.changed(f"uninstalled {what}", f"uninstall {what}")
    elif outcome.action is Change.NOT_OURS:
        rec.unchanged(f"{what} left: {outcome.reason}")
