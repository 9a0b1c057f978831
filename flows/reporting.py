"""What every operations flow does at the end: a markdown artifact of its StepResult, a log line, a JSON result."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from onboarding.report import operation_markdown
from onboarding.results import StepResult


def report(result: StepResult, *, title: str, key: str, markdown: str | None = None) -> dict[str, Any]:
    """``markdown``: the artifact's text when the operation has a report of its own (default: the operation's)."""
    create_markdown_artifact(
        key=f"{key}-{result.customer}",
        markdown=markdown or operation_markdown(title=title, result=result),
        description=f"{title} of {result.customer}",
    )
    get_run_logger().info(
        "%s of %s: %d %s",
        title,
        result.customer,
        len(result.changed),
        "planned" if result.dry_run else "changed",
    )
    return result.model_dump(mode="json")
