"""Canary history, task records and the audit log in SQLite (a file, or ":memory:")."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from loadtester.state import sqlite_pages
from loadtester.state.base import (
    KEEP_HISTORY,
    AuditEntry,
    CanaryRecord,
    Sighting,
    TaskRecord,
)
from loadtester.state.pages import CanaryCursor

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS canaries ("
    " name TEXT NOT NULL, namespace TEXT NOT NULL, phase TEXT NOT NULL, phase_at REAL NOT NULL,"
    " checksum TEXT NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL,"
    " PRIMARY KEY (namespace, name))",
    "CREATE INDEX IF NOT EXISTS canaries_seen ON canaries (last_seen)",
    "CREATE TABLE IF NOT EXISTS task_records ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, namespace TEXT NOT NULL, type TEXT NOT NULL,"
    " description TEXT NOT NULL, checksum TEXT NOT NULL, background INTEGER NOT NULL,"
    " started_at REAL NOT NULL, ended_at REAL, outcome TEXT NOT NULL, reason TEXT NOT NULL,"
    " load TEXT, replica TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS task_records_canary"
    " ON task_records (namespace, name, started_at)",
    "CREATE INDEX IF NOT EXISTS task_records_started ON task_records (started_at)",
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, who TEXT NOT NULL,"
    " peer TEXT NOT NULL, action TEXT NOT NULL, name TEXT NOT NULL, namespace TEXT NOT NULL,"
    " revision TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS audit_canary ON audit (namespace, name, at)",
    "CREATE INDEX IF NOT EXISTS audit_at ON audit (at)",
)
# a phase or checksum left out of a call ("") keeps the one known; the phase's time moves
# only when the phase changes; a late sighting never moves last_seen back
_SEEN = (
    "INSERT INTO canaries (name, namespace, phase, phase_at, checksum, first_seen, last_seen)"
    " VALUES (:name, :namespace, :phase, :at, :checksum, :at, :at)"
    " ON CONFLICT (namespace, name) DO UPDATE SET"
    " phase_at = CASE WHEN :phase != '' AND :phase != phase THEN :at ELSE phase_at END,"
    " phase = CASE WHEN :phase != '' THEN :phase ELSE phase END,"
    " checksum = CASE WHEN :checksum != '' THEN :checksum ELSE checksum END,"
    " first_seen = MIN(first_seen, :at), last_seen = MAX(last_seen, :at)"
)
_CANARY_COLUMNS = "name, namespace, phase, phase_at, checksum, first_seen, last_seen"
_TASK_COLUMNS = ("id, name, namespace, type, description, checksum, background, started_at,"
                 " ended_at, outcome, reason, load, replica")
_AUDIT_COLUMNS = "at, who, peer, action, name, namespace, revision, detail"


def _where(name: str | None, namespace: str | None) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause (possibly empty) selecting one canary, one namespace, or all."""
    clauses = [(column, value) for column, value in (("namespace", namespace), ("name", name))
               if value is not None]
    if not clauses:
        return "", ()
    return (" WHERE " + " AND ".join(f"{column} = ?" for column, _ in clauses),
            tuple(value for _, value in clauses))


class SqliteCanaryHistory:
    """CanaryHistory on one SQLite connection; each method is one statement."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        for statement in _SCHEMA:
            self._db.execute(statement)
        for statement in sqlite_pages.INDEXES:
            self._db.execute(statement)

    async def seen(self, sighting: Sighting) -> None:
        self._db.execute(_SEEN, {"name": sighting.name, "namespace": sighting.namespace,
                                 "phase": sighting.phase, "checksum": sighting.checksum,
                                 "at": sighting.at})

    async def canaries(self, since: float) -> list[CanaryRecord]:
        rows = self._db.execute(
            f"SELECT {_CANARY_COLUMNS} FROM canaries WHERE last_seen >= ?"
            " ORDER BY last_seen DESC, namespace, name", (since,))
        return [CanaryRecord(*row) for row in rows]

    async def canary_page(self, since: float, limit: int, after: CanaryCursor | None = None,
                          namespaces: frozenset[str] | None = None) -> list[CanaryRecord]:
        return sqlite_pages.canary_page(self._db, since, limit, after, namespaces)

    async def canary(self, name: str, namespace: str) -> CanaryRecord | None:
        row = self._db.execute(
            f"SELECT {_CANARY_COLUMNS} FROM canaries WHERE namespace = ? AND name = ?",
            (namespace, name)).fetchone()
        return CanaryRecord(*row) if row else None

    async def record_task(self, record: TaskRecord) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO task_records ({_TASK_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.name, record.namespace, record.type, record.description,
             record.checksum, int(record.background), record.started_at, record.ended_at,
             record.outcome, record.reason,
             None if record.load is None else json.dumps(record.load), record.replica))

    async def tasks(self, name: str | None = None, namespace: str | None = None,
                    limit: int = 50) -> list[TaskRecord]:
        where, values = _where(name, namespace)
        rows = self._db.execute(
            f"SELECT {_TASK_COLUMNS} FROM task_records{where}"
            " ORDER BY started_at DESC, id DESC LIMIT ?", (*values, limit))
        return [_task(row) for row in rows]

    async def task(self, id: str) -> TaskRecord | None:
        row = self._db.execute(f"SELECT {_TASK_COLUMNS} FROM task_records WHERE id = ?",
                               (id,)).fetchone()
        return _task(row) if row else None

    async def prune(self, now: float) -> None:
        before = now - KEEP_HISTORY
        self._db.execute("DELETE FROM canaries WHERE last_seen < ?", (before,))
        self._db.execute("DELETE FROM task_records WHERE started_at < ?", (before,))


def _task(row: tuple[Any, ...]) -> TaskRecord:
    (id_, name, namespace, kind, description, checksum, background, started_at, ended_at,
     outcome, reason, load, replica) = row
    return TaskRecord(id_, name, namespace, kind, description, checksum, bool(background),
                      started_at, ended_at, outcome, reason,
                      None if load is None else json.loads(load), replica)


class SqliteAuditLog:
    """AuditLog on one SQLite connection: one row per entry."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        for statement in _SCHEMA:
            self._db.execute(statement)

    async def append(self, entry: AuditEntry) -> None:
        self._db.execute(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.at, entry.who, entry.peer, entry.action, entry.name, entry.namespace,
             entry.revision, entry.detail))

    async def entries(self, name: str | None = None, namespace: str | None = None,
                      limit: int = 100) -> list[AuditEntry]:
        where, values = _where(name, namespace)
        rows = self._db.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM audit{where} ORDER BY at DESC, id DESC LIMIT ?",
            (*values, limit))
        return [AuditEntry(*row) for row in rows]

    async def prune(self, now: float) -> None:
        self._db.execute("DELETE FROM audit WHERE at < ?", (now - KEEP_HISTORY,))
