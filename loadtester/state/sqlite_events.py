"""The event queue in SQLite (a file under -state, or ":memory:"): one row per (event, sink).

A row is `pending` until its sink took it (`delivered`) or it was given up (`dead`). Rows of
one lane (sink + canary) are delivered strictly in id order. A committed row survives kill -9
(WAL), so pending deliveries resume at the next start. Folding: an identical message for the
same lane within the window adds to the count of the earlier row instead of making a new one;
the first repeat after the window carries what was folded into a row after it was sent.

The `lanes` table holds one row per lane with pending rows: when its head is due (its retry
time, or the end of a claim's lease). Claims read it through its (sink, next_at) index, so
their cost follows the due work, not the number of lanes. It is rebuilt from the pending rows
at open: a lease held by the process that last had the file open is void (it is gone).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from loadtester.event import Event
from loadtester.state.base import (
    KEEP_DEAD_EVENTS,
    KEEP_EVENT_KEYS,
    Delivery,
    Enqueued,
    EventRecord,
)
from loadtester.state.event_history import OutboxRow, event_records
from loadtester.state.store_keys import canary_id

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
    "CREATE INDEX IF NOT EXISTS outbox_history ON outbox (lane, id)",
    "CREATE TABLE IF NOT EXISTS lanes ("
    " sink TEXT NOT NULL, lane TEXT NOT NULL, next_at REAL NOT NULL, PRIMARY KEY (sink, lane))",
    "CREATE INDEX IF NOT EXISTS lanes_due ON lanes (sink, next_at)",
)
_REBUILD = (
    "INSERT INTO lanes (sink, lane, next_at)"
    " SELECT o.sink, o.lane, o.next_at FROM outbox o JOIN"
    " (SELECT MIN(id) AS id FROM outbox WHERE state = 'pending' GROUP BY sink, lane) h"
    " ON o.id = h.id"
)
# distinct sinks by skipping through the lanes index: one seek per sink, not a scan
_SINKS = (
    "WITH RECURSIVE s(sink) AS (SELECT MIN(sink) FROM lanes UNION ALL"
    " SELECT (SELECT MIN(sink) FROM lanes WHERE sink > s.sink) FROM s WHERE s.sink IS NOT NULL)"
    " SELECT sink FROM s WHERE sink IS NOT NULL"
)
DUE_LANES = "SELECT lane FROM lanes WHERE sink = ? AND next_at <= ? ORDER BY next_at LIMIT ?"
NEXT_DUE = "SELECT MIN(next_at) FROM lanes WHERE sink = ?"
_HEAD = ("SELECT id, event, count, attempts, received_at, next_at FROM outbox"
         " WHERE state = 'pending' AND sink = ? AND lane = ? ORDER BY id LIMIT 1")


class SqliteEventQueue:
    """EventQueue on one SQLite connection; every method is one short transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("DELETE FROM lanes")
            db.execute(_REBUILD)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def enqueue(self, event: Event, sinks: Iterable[str], identity: str,
                      fold_window: float, now: float) -> Enqueued:
        queued: list[str] = []
        folded: list[str] = []
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO event_keys (key, received_at) VALUES (?, ?)",
                (identity, now))
            if cursor.rowcount == 0:
                return Enqueued(duplicate=True)
            stored = event.to_json()
            fold_key = event.fold_key()
            lane = canary_id(event.name, event.namespace)
            for sink in sinks:
                carry = 0
                row = db.execute(
                    "SELECT id, state, count, sent_count, received_at FROM outbox"
                    " WHERE sink = ? AND lane = ? AND fold_key = ? ORDER BY id DESC LIMIT 1",
                    (sink, lane, fold_key),
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
                    (sink, lane, fold_key, stored, now, 1 + carry, now),
                )
                db.execute("INSERT OR IGNORE INTO lanes (sink, lane, next_at) VALUES (?, ?, ?)",
                           (sink, lane, now))
                queued.append(sink)
        return Enqueued(False, tuple(queued), tuple(folded))

    async def sinks(self) -> list[str]:
        return [sink for (sink,) in self._db.execute(_SINKS)]

    async def claim_due(self, sink: str, now: float, limit: int,
                        lease: float) -> list[Delivery]:
        claimed: list[Delivery] = []
        with self._transaction() as db:
            lanes = db.execute(DUE_LANES, (sink, now, limit)).fetchall()
            for (lane,) in lanes:
                head = db.execute(_HEAD, (sink, lane)).fetchone()
                if head is None:  # not expected: the lane row outlived its rows
                    db.execute("DELETE FROM lanes WHERE sink = ? AND lane = ?", (sink, lane))
                    continue
                row_id, stored, count, attempts, received_at, _next_at = head
                db.execute("UPDATE lanes SET next_at = ? WHERE sink = ? AND lane = ?",
                           (now + lease, sink, lane))
                claimed.append(Delivery(str(row_id), sink, lane, Event.from_stored(stored), count,
                                        attempts, received_at))
        return claimed

    async def next_due(self, sink: str) -> float | None:
        (when,) = self._db.execute(NEXT_DUE, (sink,)).fetchone()
        return None if when is None else float(when)

    async def delivered(self, entry: Delivery, now: float) -> None:
        self._settle(entry, "state = 'delivered', sent_count = ?, attempts = attempts + 1,"
                            " done_at = ?, last_error = ''", (entry.count, now))

    async def retry(self, entry: Delivery, next_at: float, error: str) -> None:
        self._settle(entry, "attempts = attempts + 1, next_at = ?, last_error = ?",
                     (next_at, error))

    async def dead(self, entry: Delivery, error: str, now: float) -> None:
        self._settle(entry, "state = 'dead', attempts = attempts + 1, last_error = ?,"
                            " done_at = ?", (error, now))

    def _settle(self, entry: Delivery, changes: str, values: tuple[object, ...]) -> None:
        """Apply an attempt's outcome to a still pending row, then move its lane on."""
        with self._transaction() as db:
            cursor = db.execute(f"UPDATE outbox SET {changes} WHERE id = ? AND state = 'pending'",
                                (*values, int(entry.id)))
            if cursor.rowcount:
                _advance(db, entry.sink, entry.lane)

    async def depth(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT sink, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY sink")
        return {sink: count for sink, count in rows}

    async def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        return {state: count for state, count in rows}

    async def prune(self, keep_delivered: float, now: float) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM outbox WHERE state = 'delivered' AND done_at < ?",
                       (now - keep_delivered,))
            db.execute("DELETE FROM outbox WHERE state = 'dead' AND done_at < ?",
                       (now - KEEP_DEAD_EVENTS,))
            db.execute("DELETE FROM event_keys WHERE received_at < ?", (now - KEEP_EVENT_KEYS,))

    async def history(self, name: str, namespace: str, limit: int) -> list[EventRecord]:
        # read lazily, newest first, until `limit` events are complete
        rows = self._db.execute(
            "SELECT id, event, sink, state, attempts, last_error, received_at FROM outbox"
            " WHERE lane = ? ORDER BY id DESC", (canary_id(name, namespace),))
        try:
            return event_records((OutboxRow(*row) for row in rows), name, namespace, limit)
        finally:
            rows.close()


def _advance(db: sqlite3.Connection, sink: str, lane: str) -> None:
    """Point the lane at its (new) head: due when that row is; gone when none is left."""
    head = db.execute(_HEAD, (sink, lane)).fetchone()
    if head is None:
        db.execute("DELETE FROM lanes WHERE sink = ? AND lane = ?", (sink, lane))
    else:
        db.execute("UPDATE lanes SET next_at = ? WHERE sink = ? AND lane = ?",
                   (head[5], sink, lane))
