"""The durable dead-letter store: one SQLite database (WAL, synchronous=FULL) under <state>/dlq/.

Every change is one committed transaction, so a SIGKILL at any point leaves either the old or the
new letter on disk, never half of one. ``next_attempt_at`` and ``confirm_at`` are wall-clock times
stored with the letter: a daemon restarted mid-backoff retries neither early nor never.
The daemon and the ``hope dlq`` CLI open the same file; SQLite's locking serialises them.

Statuses: ``pending`` (waits for next_attempt_at), ``retrying`` (retry sent; done unless a new
failure arrives before confirm_at), ``parked`` (needs an operator), ``done``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("pending", "retrying", "parked", "done")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS letters (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    handler TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    errors TEXT NOT NULL,
    next_attempt_at REAL,
    confirm_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    forced INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS letters_status ON letters(status, next_attempt_at);
"""
_COLUMNS = ("id", "service", "handler", "event_id", "event_type", "event", "status", "attempts",
            "errors", "next_attempt_at", "confirm_at", "created_at", "updated_at", "reason",
            "forced")


class DlqStoreError(RuntimeError):
    """The store file cannot be opened or is not a DLQ database; the message names the file."""


@dataclass
class Letter:
    """One failed delivery of one event to one handler, with every error it collected."""

    id: str
    service: str
    handler: str
    event: dict[str, Any]
    status: str = "pending"
    attempts: int = 0                   # failures recorded so far
    errors: list[dict[str, Any]] = field(default_factory=list)
    next_attempt_at: float | None = None
    confirm_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    reason: str = ""                    # why parked (or last operator action)
    forced: bool = False                # operator asked for a retry: skip the staleness check once

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id", ""))

    @property
    def event_type(self) -> str:
        return str(self.event.get("event_type", ""))

    def seen(self, dead_letter_id: str) -> bool:
        return any(e.get("dead_letter_id") == dead_letter_id for e in self.errors)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "service": self.service, "handler": self.handler,
                "event_id": self.event_id, "event_type": self.event_type, "status": self.status,
                "attempts": self.attempts, "errors": self.errors,
                "next_attempt_at": self.next_attempt_at, "confirm_at": self.confirm_at,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "reason": self.reason, "forced": self.forced, "event": self.event}


class DlqStore:
    """Letters keyed by id in SQLite. Methods are small transactions; safe across processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit; writes below use explicit transactions.
            self._db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DlqStoreError(f"{self.path}: cannot open the DLQ store ({exc})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DlqStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads -----------------------------------------------------------------------------

    def _row(self, row: tuple[Any, ...]) -> Letter:
        r = dict(zip(_COLUMNS, row, strict=True))
        return Letter(id=r["id"], service=r["service"], handler=r["handler"],
                      event=json.loads(r["event"]), status=r["status"], attempts=r["attempts"],
                      errors=json.loads(r["errors"]), next_attempt_at=r["next_attempt_at"],
                      confirm_at=r["confirm_at"], created_at=r["created_at"],
                      updated_at=r["updated_at"], reason=r["reason"], forced=bool(r["forced"]))

    def _select(self, where: str = "", args: tuple[Any, ...] = ()) -> list[Letter]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM letters {where}"
        return [self._row(r) for r in self._db.execute(sql, args).fetchall()]

    def get(self, letter_id: str) -> Letter | None:
        found = self._select("WHERE id = ?", (letter_id,))
        return found[0] if found else None

    def find(self, prefix: str) -> Letter | None:
        """A letter by id or unique id prefix (operators type short ids); None if none or many."""
        exact = self.get(prefix)
        if exact:
            return exact
        found = self._select("WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                             (prefix.replace("%", "\\%").replace("_", "\\_") + "%",))
        return found[0] if len(found) == 1 else None

    def list(self, status: str | None = None) -> list[Letter]:
        if status:
            return self._select("WHERE status = ? ORDER BY created_at, id", (status,))
        return self._select("ORDER BY created_at, id")

    def due(self, now: float) -> list[Letter]:
        """Pending letters whose next attempt time has come, oldest first."""
        return self._select("WHERE status = 'pending' AND next_attempt_at <= ? "
                            "ORDER BY next_attempt_at, id", (now,))

    def confirmable(self, now: float) -> list[Letter]:
        """Retried letters whose confirmation window closed with no new failure."""
        return self._select("WHERE status = 'retrying' AND confirm_at <= ? ORDER BY id", (now,))

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self._db.execute("SELECT status, COUNT(*) FROM letters GROUP BY status"):
            out[status] = n
        return out

    # --- writes ----------------------------------------------------------------------------

    def put(self, letter: Letter) -> None:
        """Insert or replace one letter in one committed transaction."""
        if letter.status not in STATUSES:
            raise ValueError(f"letter {letter.id}: unknown status {letter.status!r}")
        values = (letter.id, letter.service, letter.handler, letter.event_id, letter.event_type,
                  json.dumps(letter.event, sort_keys=True), letter.status, letter.attempts,
                  json.dumps(letter.errors), letter.next_attempt_at, letter.confirm_at,
                  letter.created_at, letter.updated_at, letter.reason, int(letter.forced))
        with self._db:  # BEGIN ... COMMIT
            self._db.execute(f"INSERT OR REPLACE INTO letters ({', '.join(_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_COLUMNS))})", values)

    def request_retry(self, letter_id: str | None, now: float) -> list[str]:
        """Operator retry: parked or pending letters (one, or all when ``letter_id`` is None) become
        pending, due now, forced past the staleness check once. Returns the ids changed."""
        with self._db:
            if letter_id is None:
                rows = self._db.execute(
                    "SELECT id FROM letters WHERE status IN ('parked', 'pending')").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT id FROM letters WHERE id = ? AND status IN ('parked', 'pending')",
                    (letter_id,)).fetchall()
            ids = [r[0] for r in rows]
            self._db.executemany(
                "UPDATE letters SET status = 'pending', next_attempt_at = ?, confirm_at = NULL, "
                "forced = 1, reason = 'operator retry', updated_at = ? WHERE id = ?",
                [(now, now, i) for i in ids])
        return ids

    def purge(self, letter_id: str) -> bool:
        with self._db:
            return self._db.execute("DELETE FROM letters WHERE id = ?", (letter_id,)).rowcount > 0

    def purge_done(self, before: float | None = None) -> int:
        """Delete done letters (only those finished before ``before`` when given)."""
        with self._db:
            if before is None:
                return self._db.execute("DELETE FROM letters WHERE status = 'done'").rowcount
            return self._db.execute("DELETE FROM letters WHERE status = 'done' AND "
                                    "updated_at < ?", (before,)).rowcount
