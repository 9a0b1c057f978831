"""The migration's report: its outcome and the catalog change to commit up front, or why it stopped."""

from __future__ import annotations

from onboarding.errors import PermanentError
from onboarding.migration_report import migration_failure_markdown, migration_markdown
from onboarding.results import StepResult

CHANGE = {
    "file": "deployments/customers/contoso.yaml",
    "change": "pod_identity.mode: aad-pod-identity-managed -> workload-identity",
    "yaml": "pod_identity:\n  mode: workload-identity\n",
}


def _result(state: str, *, dry_run: bool = False, change: dict[str, str] | None = CHANGE) -> StepResult:
    return StepResult(
        step="migrate_to_workload_identity",
        customer="contoso",
        dry_run=dry_run,
        changed=["would delete AzureIdentityBinding default/x-binding"] if dry_run else [],
        details={"state": state, "catalog_change": change},
    )


def test_a_plan_says_nothing_was_written_and_what_to_commit_once_migrated() -> None:
    text = migration_markdown(_result("planned", dry_run=True))
    assert text.startswith(
        "# Migration plan of customer `contoso`\n\nOutcome: **planned: nothing was written**"
    )
    assert "Once migrated, commit this change to `deployments/customers/contoso.yaml`" in text
    assert "```yaml\npod_identity:\n  mode: workload-identity\n```" in text
    assert "- would delete AzureIdentityBinding default/x-binding" in text


def test_a_customer_the_catalog_has_on_workload_identity_needs_no_change() -> None:
    text = migration_markdown(_result("already-migrated", change=None))
    assert "already on workload identity: nothing to do, nothing written" in text
    assert "The catalog entry says workload identity already." in text and "```yaml" not in text


def test_a_failure_says_why_and_that_the_next_run_resumes() -> None:
    error = PermanentError("storage through workload identity is not proven", customer="contoso", step="m")
    text = migration_failure_markdown("contoso", error)
    assert "**failed**" in text and "storage through workload identity is not proven" in text
    assert "resumes where this run stopped" in text
