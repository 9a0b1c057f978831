"""What every step returns: small, serialisable, readable in a report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class StepResult(BaseModel):
    step: str
    customer: str
    dry_run: bool = False
    changed: list[str] = Field(default_factory=list, description="Changes applied (or planned, in a dry run)")
    unchanged: list[str] = Field(default_factory=list, description="Things that were already right")
    as_applied: list[str] = Field(
        default_factory=list,
        description="Dry run only: the `changed` sentences the real run will report, one per planned change",
    )
    details: dict[str, Any] = Field(default_factory=dict)
    duration_s: float = 0.0
    waited_s: float = Field(0.0, description="Time spent waiting on the service (LROs, propagation, pods)")

    @property
    def wrote(self) -> bool:
        return bool(self.changed) and not self.dry_run
