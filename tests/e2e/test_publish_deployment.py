"""The publish/manual deployment as an operator starts it from the UI: a dry run on the worker, with the worker's
settings (the sandbox's definition and publisher principal), that writes nothing."""

from __future__ import annotations

import pytest

from sandbox import seed
from sandbox.client import SandboxProcess
from tools.stack import PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

DEPLOYMENT = "publish/manual"


def test_publish_dry_run_from_its_manual_deployment(
    sandbox: SandboxProcess, prefect_stack: PrefectStack
) -> None:
    mark = sandbox.mark()
    run = prefect_stack.run_deployments([DEPLOYMENT], parameters={"dry_run": True})[DEPLOYMENT]
    assert run.state.is_completed(), run.state.message
    assert sandbox.arm_writes(mark, seed.PUBLISHER_SUBSCRIPTION_ID) == []
