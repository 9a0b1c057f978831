"""Readable reports from step results: the markdown artifact of one onboarding and the fleet table rows."""

from __future__ import annotations

from typing import Any

from .azure.identities import short_name
from .cluster import ClusterInfo
from .results import StepResult
from .steps.attach import STEP as ATTACH_STEP
from .steps.verify import STEP as VERIFY_STEP


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _storage_proof(verify: StepResult | None) -> list[str]:
    """What the storage check listed and read: from the probe pod, or from here with the identity's token."""
    if verify is None:
        return []
    probe = verify.details.get("probe")
    if probe:
        title, paths = f"Storage listing read from pod `{probe.get('job')}`", probe.get("paths") or []
    elif verify.details.get("publisher_check"):
        probe = verify.details["publisher_check"]
        title, paths = "Storage listing read from the publisher side", probe.get("listing") or []
    else:
        return []
    lines = ["", f"{title}:", ""]
    lines += [f"- `{_cell(path)}`" for path in paths]
    if probe.get("first_line") is not None:
        lines += ["", f"First line of the file: `{_cell(probe['first_line'])}`"]
    return lines


def _uncommitted_migration(steps: list[StepResult]) -> list[str]:
    """The catalog change a migration to workload identity asked for and nobody committed yet."""
    change = next((s.details["catalog_change"] for s in steps if s.details.get("catalog_change")), None)
    if not change:
        return []
    lead = "The cluster was migrated to workload identity, so this run followed it rather than the catalog. Commit"
    return catalog_change_lines(lead, change)


def catalog_change_lines(lead: str, change: dict[str, str]) -> list[str]:
    """``lead`` the catalog change (migration's ``details["catalog_change"]``) as a YAML block to commit."""
    return [
        f"{lead} to `{change['file']}` ({change['change']}):",
        "",
        "```yaml",
        change["yaml"].rstrip("\n"),
        "```",
        "",
    ]


def onboarding_markdown(
    *,
    customer: str,
    outcome: str,
    dry_run: bool,
    steps: list[StepResult],
    cluster: ClusterInfo | None,
    error: str | None = None,
    overrides: str | None = None,
) -> str:
    title = "Plan" if dry_run else "Onboarding"
    lines = [f"# {title} of customer `{customer}`: **{outcome}**", ""]
    if overrides:
        lines += [f"This run overrides the catalog entry: {_cell(overrides)}", ""]
    if error:
        lines += [f"> {error}", ""]
    lines += _uncommitted_migration(steps)
    lines += ["| step | changed | already right | took (s) | waited (s) |", "|---|---|---|---:|---:|"]
    for step in steps:
        changed = "<br>".join(_cell(c) for c in step.changed) or "-"
        unchanged = "<br>".join(_cell(c) for c in step.unchanged) or "-"
        lines.append(
            f"| {step.step} | {changed} | {unchanged} | {step.duration_s:.1f} | {step.waited_s:.1f} |"
        )
    if cluster:
        lines += [
            "",
            f"Cluster `{cluster.cluster_name}`, node resource group `{cluster.node_resource_group}`.",
            "",
            "| scale set | identities |",
            "|---|---|",
        ]
        for step in steps:
            if step.step == ATTACH_STEP and "vmss_id" in step.details:
                vmss = short_name(step.details["vmss_id"])
                names = ", ".join(short_name(i) for i in step.details.get("identities", []))
                lines.append(f"| {_cell(vmss)} | {_cell(names)} |")
    lines += _storage_proof(next((s for s in steps if s.step == VERIFY_STEP), None))
    return "\n".join(lines) + "\n"


def summary_row(
    *, customer: str, outcome: str, steps: list[StepResult], duration_s: float, error: str | None = None
) -> dict[str, Any]:
    return {
        "customer": customer,
        "outcome": outcome,
        "changes": sum(len(s.changed) for s in steps),
        "seconds": round(duration_s, 1),
        "reason": error or "",
    }


def operation_markdown(*, title: str, result: StepResult) -> str:
    """The report of one post-onboarding operation (refresh, storage check, audit, offboarding); the audit's
    ``details["rows"]`` as a table."""
    lines = [f"# {title} of customer `{result.customer}`", ""]
    if result.dry_run:
        lines += ["Plan only: nothing was written.", ""]
    heading = "Would change" if result.dry_run else "Changed"
    for name, items in ((heading, result.changed), ("Already right, kept or left", result.unchanged)):
        lines += [f"## {name}", ""]
        lines += [f"- {_cell(item)}" for item in items] or ["- nothing"]
        lines.append("")
    rows = result.details.get("rows") or []
    if rows:
        lines += [f"| {' | '.join(rows[0])} |", f"|{'---|' * len(rows[0])}"]
        lines += [f"| {' | '.join(_cell(v) for v in row.values())} |" for row in rows]
        lines.append("")
    lines.append(f"Took {result.duration_s:.1f} s, of which {result.waited_s:.1f} s waiting on the service.")
    return "\n".join(lines) + "\n"
