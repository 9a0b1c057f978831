"""The time a step has left: set once by the retry runner for the whole step, read by every wait inside it.

A context variable, so parallel steps (one per scale set, each in its own thread) each see their own deadline and
code outside a step (no deadline) waits for its own limit only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("onboarding_step_deadline", default=None)


@contextlib.contextmanager
def step_deadline(budget_s: float) -> Iterator[None]:
    """Everything run inside ends its waits by ``budget_s`` from now (a deadline already set and sooner wins)."""
    ends = time.monotonic() + budget_s
    outer = _deadline.get()
    token = _deadline.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining(limit_s: float) -> float:
    """How long a wait may last: its own ``limit_s``, or less when the step's deadline comes sooner (never < 0)."""
    ends = _deadline.get()
    if ends is None:
        return limit_s
    return max(0.0, min(limit_s, ends - time.monotonic()))


def cut_short(limit_s: float) -> bool:
    """True when the step's deadline, not ``limit_s``, is what bounds a wait starting now."""
    return remaining(limit_s) < limit_s
