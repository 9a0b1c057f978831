"""Injected faults and ARM throttling.

Fault rules (set through the admin API) answer matching ARM requests with an error instead of serving them,
``count`` times or with a ``probability`` (seeded). A rule naming an ``operation`` (an LRO's name, e.g.
``managedcluster.update``) matches no request: it fails that long-running operation when it would complete (its
``path`` is then matched against the operation's resource id), as a resource provider reports a failed
operation: the status monitor says ``Failed`` with the rule's ``code`` and ``message``, nothing is applied. Throttling is a token bucket per subscription + principal
+ kind (read/write), sized from ``world.timing``, answering 429 with
``Retry-After`` and the body ARM sends.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .perworld import PerWorld
from .state import World


@dataclass
class FaultRule:
    status: int = 0
    method: str = "*"
    path: str = ".*"
    code: str = "InjectedFault"
    message: str = "injected by the sandbox"
    count: int | None = None
    probability: float | None = None
    retry_after: float | None = None
    seed: int | None = None
    operation: str | None = None
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path, re.IGNORECASE)
        self._rng = random.Random(self.seed)
        if self.count is None and self.probability is None:
            self.count = 1

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        known = {
            "status",
            "method",
            "path",
            "code",
            "message",
            "count",
            "probability",
            "retry_after",
            "seed",
            "operation",
        }
        unknown = set(data) - known
        if unknown or ("status" not in data and "operation" not in data):
            raise ValueError(
                f"a fault rule needs 'status' (or 'operation') and only {sorted(known)}; got {sorted(data)}"
            )
        return cls(**data)

    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def fires(self, method: str, path: str) -> bool:
        if self.operation is not None or self.method not in ("*", method.upper()):
            return False
        return self._fires_on(path)

    def fails_operation(self, name: str, resource_id: str) -> bool:
        return self.operation == name and self._fires_on(resource_id)

    def _fires_on(self, path: str) -> bool:
        if self.exhausted() or not self._pattern.search(path):
            return False
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "method": self.method,
            "path": self.path,
            "code": self.code,
            "message": self.message,
            "count": self.count,
            "probability": self.probability,
            "retry_after": self.retry_after,
            "operation": self.operation,
            "fired": self.fired,
        }


@dataclass
class Bucket:
    capacity: float
    rate: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Take one token; returns 0 when allowed, else the seconds until a token is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else 60.0


class Faults:
    """Fault rules and throttle buckets of one world."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self._buckets: dict[tuple[str, str, str], Bucket] = {}

    def set_rules(self, rules: list[dict[str, Any]]) -> list[FaultRule]:
        parsed = [FaultRule.from_json(r) for r in rules]
        with self._lock:
            self.rules.extend(parsed)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset_buckets(self) -> None:
        """Start every bucket full again (after the timing changed)."""
        with self._lock:
            self._buckets.clear()

    def match(self, method: str, path: str) -> FaultRule | None:
        return self._first(lambda rule: rule.fires(method, path))

    def match_operation(self, name: str, resource_id: str) -> FaultRule | None:
        """The rule that fails the long-running operation ``name`` on ``resource_id``, if any."""
        return self._first(lambda rule: rule.fails_operation(name, resource_id))

    def _first(self, fires: Callable[[FaultRule], bool]) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if fires(rule):
                    return rule
            self.rules = [r for r in self.rules if not r.exhausted()]
        return None

    def _limit(self, name: str) -> float:
        return float(getattr(self._world.timing, name))

    def throttle(self, subscription: str, principal: str, kind: str) -> int:
        """0 when the request may go on, else the Retry-After seconds (whole, at least 1)."""
        now = time.monotonic()
        with self._lock:
            bucket_key = (subscription.lower(), principal.lower(), kind)
            bucket = self._buckets.get(bucket_key)
            if bucket is None:
                capacity = self._limit(f"{kind}s_burst")
                bucket = Bucket(capacity, self._limit(f"{kind}s_per_s"), capacity, now)
                self._buckets[bucket_key] = bucket
            wait = bucket.take(now)
        return 0 if wait == 0 else max(1, math.ceil(wait))


# The one Faults object of a world (shared by ARM and the admin API).
for_world = PerWorld(Faults)
