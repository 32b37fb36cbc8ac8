"""The durable outbox: one row per (event, sink) in the embedded SQLite database.

A row is `pending` until its sink took it (`delivered`) or it was given up (`dead`). Rows of
one lane (sink + canary) are delivered strictly in id order. A committed row survives kill -9
(WAL), so pending deliveries resume at the next start. Folding: an identical message for the
same lane within the window adds to the count of the earlier row instead of making a new one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from loadtester.events.event import Event

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS event_keys ("
    " key TEXT PRIMARY KEY, received_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, sink TEXT NOT NULL, lane TEXT NOT NULL,"
    " fold_key TEXT NOT NULL, event TEXT NOT NULL, received_at REAL NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'pending', count INTEGER NOT NULL DEFAULT 1,"
    " sent_count INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_at REAL NOT NULL, last_error TEXT NOT NULL DEFAULT '', done_at REAL)",
    "CREATE INDEX IF NOT EXISTS outbox_lanes ON outbox (state, sink, lane, id)",
    "CREATE INDEX IF NOT EXISTS outbox_folds ON outbox (sink, lane, fold_key, id)",
    "CREATE INDEX IF NOT EXISTS outbox_done ON outbox (state, done_at)",
    "CREATE INDEX IF NOT EXISTS event_keys_age ON event_keys (received_at)",
)
KEEP_KEYS = 24 * 3600.0
KEEP_DEAD = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Enqueued:
    """What storing one event did."""

    duplicate: bool = False
    queued: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lane:
    """The head of one lane: its oldest pending row, and how many rows wait in it."""

    sink: str
    lane: str
    head: int
    depth: int


@dataclass(frozen=True)
class Delivery:
    """One pending row, ready to be attempted."""

    id: int
    sink: str
    lane: str
    event: Event
    count: int
    attempts: int
    next_at: float
    received_at: float


class Outbox:
    """Pending deliveries in SQLite; every method is one short transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        for statement in _SCHEMA:
            self._db.execute(statement)

    def enqueue(self, event: Event, sinks: Iterable[str], identity: str,
                fold_window: float, now: float | None = None) -> Enqueued:
        """Store the event for each sink, unless it is a duplicate; fold repeats."""
        now = time.time() if now is None else now
        queued: list[str] = []
        folded: list[str] = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cursor = db.execute("INSERT OR IGNORE INTO event_keys (key, received_at) VALUES (?, ?)",
                                (identity, now))
            if cursor.rowcount == 0:
                db.execute("COMMIT")
                return Enqueued(duplicate=True)
            stored = event.to_json()
            fold_key = event.fold_key()
            for sink in sinks:
                carry = 0
                row = db.execute(
                    "SELECT id, state, count, sent_count, received_at FROM outbox"
                    " WHERE sink = ? AND lane = ? AND fold_key = ? ORDER BY id DESC LIMIT 1",
                    (sink, event.canary, fold_key),
                ).fetchone() if fold_window > 0 else None
                if row is not None:
                    row_id, state, count, sent, first = row
                    if state != "dead" and first >= now - fold_window:
                        db.execute("UPDATE outbox SET count = count + 1 WHERE id = ?", (row_id,))
                        folded.append(sink)
                        continue
                    if state == "delivered":
                        carry = max(0, count - sent)
                db.execute(
                    "INSERT INTO outbox (sink, lane, fold_key, event, received_at, count, next_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (sink, event.canary, fold_key, stored, now, 1 + carry, now),
                )
                queued.append(sink)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Enqueued(False, tuple(queued), tuple(folded))

    def lanes(self) -> list[Lane]:
        """Every lane with pending rows."""
        rows = self._db.execute(
            "SELECT sink, lane, MIN(id), COUNT(*) FROM outbox WHERE state = 'pending'"
            " GROUP BY sink, lane"
        ).fetchall()
        return [Lane(*row) for row in rows]

    def get(self, row_id: int) -> Delivery | None:
        row = self._db.execute(
            "SELECT id, sink, lane, event, count, attempts, next_at, received_at FROM outbox"
            " WHERE id = ? AND state = 'pending'", (row_id,),
        ).fetchone()
        if row is None:
            return None
        return Delivery(row[0], row[1], row[2], Event.from_json(row[3]), *row[4:])

    def delivered(self, row_id: int, sent_count: int, now: float | None = None) -> None:
        self._db.execute(
            "UPDATE outbox SET state = 'delivered', sent_count = ?, attempts = attempts + 1,"
            " done_at = ?, last_error = '' WHERE id = ?",
            (sent_count, time.time() if now is None else now, row_id),
        )

    def retry(self, row_id: int, next_at: float, error: str) -> None:
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?",
            (next_at, error, row_id),
        )

    def dead(self, row_id: int, error: str, now: float | None = None) -> None:
        self._db.execute(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?,"
            " done_at = ? WHERE id = ?",
            (error, time.time() if now is None else now, row_id),
        )

    def counts(self) -> dict[str, int]:
        """Rows by state."""
        rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        return {state: count for state, count in rows}

    def prune(self, keep_delivered: float, now: float | None = None) -> None:
        """Forget delivered rows, dead rows and duplicate keys once they are old."""
        now = time.time() if now is None else now
        self._db.execute("DELETE FROM outbox WHERE state = 'delivered' AND done_at < ?",
                         (now - keep_delivered,))
        self._db.execute("DELETE FROM outbox WHERE state = 'dead' AND done_at < ?",
                         (now - KEEP_DEAD,))
        self._db.execute("DELETE FROM event_keys WHERE received_at < ?", (now - KEEP_KEYS,))
