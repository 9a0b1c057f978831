"""The publisher-side storage check on its own: discover the deployment, then list and read the customer's ADLS
Gen2 storage from this process with a listTokens token for the application's identity. Read-only: it grants
nothing (onboarding's verify step grants Storage Blob Data Reader when the spec asks)."""

from __future__ import annotations

from ..context import CustomerContext
from ..results import StepResult
from ..steps import StepRecorder
from ..steps.discover import discover_cluster
from ..steps.verify import record_publisher_check

STEP = "verify_storage_from_publisher"


def verify_storage(ctx: CustomerContext) -> StepResult:
    """Prove the application's identity can list ``storage.directory`` and read ``storage.file``."""
    rec = StepRecorder(ctx, STEP, dry_run=False)
    record_publisher_check(ctx, discover_cluster(ctx), rec)
    return rec.finish()
