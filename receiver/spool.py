"""The durable record of deliveries: every delivery id seen (so a duplicate or a replay adds nothing) and the
Prefect events not yet confirmed by the Prefect API. SQLite in WAL mode with synchronous=FULL: a delivery is
acknowledged to Azure only after its transaction is on disk, so a crash after the answer loses nothing."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .mapping import Outcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    event TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS unsent ON deliveries (seq) WHERE event IS NOT NULL AND sent_at IS NULL;
"""


@dataclass(frozen=True)
class Pending:
    seq: int
    event_json: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Spool:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def record(self, outcomes: Iterable[Outcome]) -> list[Outcome]:
        """Store the outcomes not seen before, in one transaction; returns those (the new ones)."""
        new: list[Outcome] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for outcome in outcomes:
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO deliveries (delivery_id, source, kind, received_at, event) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (
                            outcome.delivery_id,
                            outcome.source,
                            outcome.kind,
                            _now(),
                            outcome.event.model_dump_json() if outcome.event else None,
                        ),
                    )
                    if cursor.rowcount:
                        new.append(outcome)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return new

    def pending(self, limit: int) -> list[Pending]:
        """Events not yet confirmed by Prefect, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event FROM deliveries WHERE event IS NOT NULL AND sent_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [Pending(seq, event) for seq, event in rows]

    def _update(self, sql: str, params: Sequence[object], seqs: Sequence[int]) -> None:
        marks = ",".join("?" * len(seqs))
        with self._lock:
            self._db.execute(f"UPDATE deliveries SET {sql} WHERE seq IN ({marks})", (*params, *seqs))

    def mark_sent(self, seqs: Sequence[int]) -> None:
        self._update("sent_at = ?, attempts = attempts + 1", (_now(),), seqs)

    def mark_failed(self, seqs: Sequence[int]) -> None:
        self._update("attempts = attempts + 1", (), seqs)

    def counts(self) -> dict[str, int]:
        """Deliveries recorded: sent to Prefect, waiting for it, and recorded only (they start nothing)."""
        with self._lock:
            sent, pending, recorded = self._db.execute(
                "SELECT COUNT(sent_at), COUNT(event) - COUNT(sent_at), COUNT(*) - COUNT(event) FROM deliveries"
            ).fetchone()
        return {"sent": sent, "pending": pending, "recorded_only": recorded}

    def close(self) -> None:
        with self._lock:
            self._db.close()
