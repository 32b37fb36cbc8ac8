"""Gates and task leases in the embedded SQLite database (also the memory backend, on
":memory:"). Every method is one short statement or transaction on a local file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from loadtester.state.base import KEEP_CLOSED_GATES, Failure, GateChange
from loadtester.state.sqlite_migrate import add_column

_GATE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS gates ("
    " key TEXT PRIMARY KEY, is_open INTEGER NOT NULL, changed_by TEXT NOT NULL,"
    " checksum TEXT NOT NULL, changed_at REAL NOT NULL,"
    " name TEXT NOT NULL DEFAULT '', namespace TEXT NOT NULL DEFAULT '',"
    " bound INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS gates_closed ON gates (is_open, changed_at)",
)
_GATE_COLUMNS = "is_open, changed_by, checksum, changed_at, name, namespace, bound"
_CLOSED = object()  # is_open's answer for a key not in the open gates
# how stale one process's view of gate changes made by another process on the same file may be
RELOAD_SECONDS = 0.05

_TASK_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS task_leases ("
    " key TEXT PRIMARY KEY, canary TEXT NOT NULL, owner TEXT NOT NULL,"
    " expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS task_leases_canary ON task_leases (canary)",
    "CREATE TABLE IF NOT EXISTS task_failures ("
    " key TEXT PRIMARY KEY, reason TEXT NOT NULL, checksum TEXT NOT NULL)",
)


class SqliteGateStore:
    """Gates in the database: they survive restarts and kill -9.

    Checks (the hot path: every analysis interval of every canary) are answered from a copy of
    the open keys in memory, which this store's own changes update at once. A change made by
    another process on the same file (SQLite's data_version) is seen within RELOAD_SECONDS;
    replicas that must agree at once share Redis instead.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        for statement in _GATE_SCHEMA:
            self._db.execute(statement)
        # a file written before approvals could be bound
        add_column(self._db, "gates", "bound", "INTEGER NOT NULL DEFAULT 0")
        # open key -> the checksum it is bound to, None when it approves any revision
        self._open: dict[str, str | None] = {}
        self._version = -1
        self._looked_at = -RELOAD_SECONDS

    async def is_open(self, key: str, checksum: str = "") -> bool:
        now = time.monotonic()
        if now - self._looked_at >= RELOAD_SECONDS:
            self._looked_at = now
            (version,) = self._db.execute("PRAGMA data_version").fetchone()
            if version != self._version:
                rows = self._db.execute(
                    "SELECT key, bound, checksum FROM gates WHERE is_open = 1").fetchall()
                self._open = {key: revision if bound else None
                              for key, bound, revision in rows}
                self._version = version
        bound = self._open.get(key, _CLOSED)  # one lookup: this is the hot path
        return bound is None or bound == checksum

    async def set(self, key: str, change: GateChange) -> None:
        now = change.at or time.time()
        self._db.execute(
            f"INSERT OR REPLACE INTO gates (key, {_GATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, int(change.is_open), change.by, change.checksum, now, change.name,
             change.namespace, int(change.bound)),
        )
        if change.is_open:
            self._open[key] = change.checksum if change.bound else None
        else:
            self._open.pop(key, None)
            self._db.execute("DELETE FROM gates WHERE is_open = 0 AND changed_at < ?",
                             (now - KEEP_CLOSED_GATES,))

    async def get(self, key: str) -> GateChange | None:
        row = self._db.execute(f"SELECT {_GATE_COLUMNS} FROM gates WHERE key = ?",
                               (key,)).fetchone()
        if row is None:
            return None
        is_open, by, checksum, at, name, namespace, bound = row
        return GateChange(bool(is_open), by, checksum, at, name, namespace, bool(bound))

    async def open_counts(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT key LIKE 'rollback:%', COUNT(*) FROM gates WHERE is_open = 1 GROUP BY 1"
        ).fetchall()
        counts = {"gate": 0, "rollback": 0}
        for is_rollback, count in rows:
            counts["rollback" if is_rollback else "gate"] = count
        return counts


class SqliteTaskLedger:
    """Leases and last failures of background tasks; replicas on one file agree too."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        for statement in _TASK_SCHEMA:
            self._db.execute(statement)

    async def claim(self, key: str, canary: str, owner: str, ttl: float) -> bool:
        now = time.time()
        cursor = self._db.execute(
            "INSERT INTO task_leases (key, canary, owner, expires_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET canary = excluded.canary, owner = excluded.owner,"
            " expires_at = excluded.expires_at WHERE task_leases.expires_at < ?",
            (key, canary, owner, now + ttl, now),
        )
        return cursor.rowcount == 1

    async def renew(self, keys: Iterable[str], owner: str, ttl: float) -> set[str]:
        expires = time.time() + ttl
        lost: set[str] = set()
        for key in keys:
            cursor = self._db.execute(
                "UPDATE task_leases SET expires_at = ? WHERE key = ? AND owner = ?",
                (expires, key, owner),
            )
            if cursor.rowcount == 0:
                lost.add(key)
        return lost

    async def release(self, key: str, owner: str, failure: Failure | None) -> None:
        self._db.execute("DELETE FROM task_leases WHERE key = ? AND owner = ?", (key, owner))
        if failure is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO task_failures (key, reason, checksum) VALUES (?, ?, ?)",
                (key, failure.reason, failure.checksum),
            )

    async def take_failure(self, key: str) -> Failure | None:
        row = self._db.execute(
            "DELETE FROM task_failures WHERE key = ? RETURNING reason, checksum", (key,)
        ).fetchone()
        return Failure(*row) if row else None

    async def revoke(self, canary: str) -> int:
        return self._db.execute("DELETE FROM task_leases WHERE canary = ?", (canary,)).rowcount

    async def cancel(self, key: str) -> bool:
        return self._db.execute("DELETE FROM task_leases WHERE key = ?", (key,)).rowcount == 1
