"""Readable reports from step results: the markdown artifact of one onboarding and the fleet table rows."""

from __future__ import annotations

from typing import Any

from .cluster import ClusterInfo
from .results import StepResult


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def onboarding_markdown(
    *,
    customer: str,
    outcome: str,
    dry_run: bool,
    steps: list[StepResult],
    cluster: ClusterInfo | None,
    error: str | None = None,
) -> str:
    title = "Plan" if dry_run else "Onboarding"
    lines = [f"# {title} of customer `{customer}`: **{outcome}**", ""]
    if error:
        lines += [f"> {error}", ""]
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
        per_vmss: dict[str, list[str]] = {}
        for step in steps:
            if step.step == "attach-identities" and "vmss" in step.details:
                per_vmss[step.details["vmss"]] = step.details.get("identities", [])
        for vmss, identities in per_vmss.items():
            names = ", ".join(i.rstrip("/").rsplit("/", 1)[-1] for i in identities)
            lines.append(f"| {_cell(vmss)} | {_cell(names)} |")
    probe = next((s.details.get("probe") for s in steps if s.step == "verify-storage-access"), None)
    if probe:
        lines += ["", "Storage probe listing:", ""]
        lines += [f"- `{_cell(p)}`" for p in probe.get("paths", [])]
        if probe.get("first_line") is not None:
            lines += ["", f"First line of the file: `{_cell(probe['first_line'])}`"]
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
