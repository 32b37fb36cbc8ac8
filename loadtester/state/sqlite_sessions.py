"""Revoked console sessions in SQLite (a file, or ":memory:"): one row each until it expires."""

from __future__ import annotations

import sqlite3
import time

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS revoked_sessions ("
    " id TEXT PRIMARY KEY, until REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS revoked_sessions_until ON revoked_sessions (until)",
)


class SqliteSessionRevocations:
    """SessionRevocations on one connection; processes on the same file see each other's."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        for statement in _SCHEMA:
            self._db.execute(statement)

    async def revoke(self, session_id: str, until: float) -> None:
        now = time.time()
        # a logout is rare: it also forgets the rows of sessions that have expired since
        self._db.execute("DELETE FROM revoked_sessions WHERE until <= ?", (now,))
        self._db.execute(
            "INSERT INTO revoked_sessions (id, until) VALUES (?, ?) ON CONFLICT (id)"
            " DO UPDATE SET until = MAX(until, excluded.until)", (session_id, until))

    async def is_revoked(self, session_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM revoked_sessions WHERE id = ? AND until > ?",
                               (session_id, time.time())).fetchone()
        return row is not None
