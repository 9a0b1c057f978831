"""The publisher-side storage check on its own: discover the deployment, then list and read the customer's ADLS
Gen2 storage from this process with a listTokens token for the application's identity. Read-only: it grants
nothing (onboarding's verify step grants Storage Blob Data Reader when the spec asks)."""

from __future__ import annotations

import time

from ..context import CustomerContext
from ..results import StepResult
from ..steps.discover import discover_cluster
from ..steps.verify import record_publisher_check

STEP = "verify_storage_from_publisher"


def verify_storage(ctx: CustomerContext) -> StepResult:
    """Prove the application's identity can list ``storage.directory`` and read ``storage.file``."""
    started = time.monotonic()
    result = StepResult(step=STEP, customer=ctx.spec.name)
    record_publisher_check(ctx, discover_cluster(ctx), result)
    result.duration_s = time.monotonic() - started
    return result
