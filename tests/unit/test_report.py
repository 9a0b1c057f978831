from __future__ import annotations

from onboarding.cluster import ClusterInfo, IdentityRef
from onboarding.report import onboarding_markdown, summary_row
from onboarding.results import StepResult
from onboarding.steps.attach import STEP as ATTACH
from onboarding.steps.roles import STEP as ROLES
from onboarding.steps.verify import STEP as VERIFY

from .clusters import cluster_with

IDS = "/subscriptions/s/resourceGroups/mrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
VMSS = "/subscriptions/s/resourceGroups/nrg/providers/Microsoft.Compute/virtualMachineScaleSets"


def _cluster() -> ClusterInfo:
    return cluster_with(IdentityRef(resource_id=f"{IDS}/app", name="app", client_id="c", principal_id="p"))


def _steps(verify_details: dict[str, object]) -> list[StepResult]:
    return [
        StepResult(step=ROLES, customer="c", changed=["granted Owner"], duration_s=1.2),
        StepResult(
            step=ATTACH,
            customer="c",
            unchanged=["vmss ok"],
            details={
                "vmss_id": f"{VMSS}/aks-nodepool1-1-vmss",
                "identities": [f"{IDS}/kubelet", f"{IDS}/app"],
            },
        ),
        StepResult(step=VERIFY, customer="c", details=verify_details),
    ]


def test_markdown_report_lists_steps_identities_per_scale_set_and_the_probe_listing() -> None:
    probe = {"job": "probe-c-1", "paths": ["folder1/t1.csv"], "first_line": "a,b"}
    text = onboarding_markdown(
        customer="c", outcome="verified", dry_run=False, steps=_steps({"probe": probe}), cluster=_cluster()
    )
    assert "verified" in text and "granted Owner" in text
    assert "| aks-nodepool1-1-vmss | kubelet, app |" in text
    assert "Storage listing read from pod `probe-c-1`" in text and "- `folder1/t1.csv`" in text
    assert "First line of the file: `a,b`" in text


def test_markdown_report_shows_the_publisher_side_listing() -> None:
    check = {"listing": ["folder1/t1.csv", "folder1/t2.csv"], "first_line": "x"}
    text = onboarding_markdown(
        customer="c",
        outcome="verified",
        dry_run=False,
        steps=_steps({"publisher_check": check}),
        cluster=None,
    )
    assert "Storage listing read from the publisher side" in text and "- `folder1/t2.csv`" in text


def test_summary_row_counts_changes() -> None:
    steps = [StepResult(step="a", customer="c", changed=["x", "y"]), StepResult(step="b", customer="c")]
    assert summary_row(customer="c", outcome="verified", steps=steps, duration_s=3.14)["changes"] == 2


def test_a_run_that_overrides_the_catalog_says_so_first() -> None:
    text = onboarding_markdown(
        customer="c",
        outcome="verified",
        dry_run=False,
        steps=_steps({}),
        cluster=None,
        overrides='pod_identity.mode="workload-identity"',
    )
    assert (
        text.splitlines()[2] == 'This run overrides the catalog entry: pod_identity.mode="workload-identity"'
    )
    assert "overrides" not in onboarding_markdown(
        customer="c", outcome="verified", dry_run=False, steps=_steps({}), cluster=None
    )
