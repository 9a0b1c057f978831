from __future__ import annotations

from onboarding.report import onboarding_markdown, summary_row
from onboarding.results import StepResult


def test_markdown_report_lists_steps_changes_and_probe() -> None:
    steps = [
        StepResult(step="ensure-node-rg-roles", customer="c", changed=["granted Owner"], duration_s=1.2),
        StepResult(
            step="attach-identities",
            customer="c",
            unchanged=["vmss ok"],
            details={"vmss": "aks-nodepool1-1-vmss", "identities": ["/x/ids/kubelet", "/x/ids/app"]},
        ),
        StepResult(
            step="verify-storage-access",
            customer="c",
            details={"probe": {"paths": ["folder1/t1.csv"], "first_line": "a,b"}},
        ),
    ]
    text = onboarding_markdown(customer="c", outcome="verified", dry_run=False, steps=steps, cluster=None)
    assert "verified" in text and "granted Owner" in text and "folder1/t1.csv" in text


def test_summary_row_counts_changes() -> None:
    steps = [StepResult(step="a", customer="c", changed=["x", "y"]), StepResult(step="b", customer="c")]
    assert summary_row(customer="c", outcome="verified", steps=steps, duration_s=3.14)["changes"] == 2
