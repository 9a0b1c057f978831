"""The report of a migration to workload identity: the operation's report with its outcome and the catalog change
to commit in front, or, when it failed, why and that nothing was removed."""

from __future__ import annotations

from .errors import OnboardingError
from .report import catalog_change_lines, operation_markdown
from .results import StepResult

OUTCOMES = {
    "planned": "planned: nothing was written",
    "migrated": "migrated to workload identity by this run",
    "already-migrated": "already on workload identity: nothing to do, nothing written",
}


def catalog_lines(result: StepResult) -> list[str]:
    change = result.details.get("catalog_change")
    if not change:
        return ["The catalog entry says workload identity already.", ""]
    lead = "Once migrated, commit this change" if result.dry_run else "Commit this change"
    note = "Until it is committed, the nightly reconcile follows the cluster's migration record."
    return [*catalog_change_lines(lead, change), note, ""]


def migration_markdown(result: StepResult) -> str:
    state = str(result.details.get("state"))
    body = operation_markdown(title="Migration plan" if result.dry_run else "Migration", result=result)
    heading, rest = body.split("\n", 1)
    return (
        "\n".join([heading, "", f"Outcome: **{OUTCOMES.get(state, state)}**", "", *catalog_lines(result)])
        + rest
    )


def migration_failure_markdown(customer: str, error: OnboardingError) -> str:
    return (
        f"# Migration of customer `{customer}`: **failed**\n\n> {error}\n\n"
        "Pod identity was not removed unless the error says so: a run removes it only after both storage proofs "
        "passed and no running pod still needed it. Fix what the error says and run the migration again; it "
        "resumes where this run stopped.\n"
    )
