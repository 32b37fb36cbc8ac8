"""Load runs in SQLite (a file, or ":memory:"): one row each, its series and summary as JSON,
its revision (checksum) in a column added at open to a table that lacks it.

A new table (created if missing, like every other table of the file): a file written by an
earlier release gains it at open, and nothing in it needs rewriting, so the keys' migration
(sqlite_migrate, user_version) is untouched.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from loadtester.state.base import KEEP_HISTORY, KEEP_RUNS, LoadRun
from loadtester.state.sqlite_migrate import add_column

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS load_runs ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, namespace TEXT NOT NULL, task_id TEXT NOT NULL,"
    " description TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL NOT NULL,"
    " outcome TEXT NOT NULL, reason TEXT NOT NULL, series TEXT NOT NULL,"
    " summary TEXT NOT NULL, checksum TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS load_runs_canary ON load_runs (namespace, name, started_at)",
    "CREATE INDEX IF NOT EXISTS load_runs_started ON load_runs (started_at)",
)
_COLUMNS = ("id, name, namespace, task_id, description, started_at, ended_at, outcome, reason,"
            " series, summary, checksum")


class SqliteLoadRuns:
    """LoadRuns on one SQLite connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        for statement in _SCHEMA:
            self._db.execute(statement)
        # a table written before runs kept their revision
        add_column(self._db, "load_runs", "checksum", "TEXT NOT NULL DEFAULT ''")

    async def record(self, run: LoadRun) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO load_runs ({_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run.id, run.name, run.namespace, run.task_id, run.description, run.started_at,
             run.ended_at, run.outcome, run.reason, json.dumps(run.series),
             json.dumps(run.summary), run.checksum))
        self._db.execute(
            "DELETE FROM load_runs WHERE namespace = ? AND name = ? AND id NOT IN ("
            " SELECT id FROM load_runs WHERE namespace = ? AND name = ?"
            " ORDER BY started_at DESC, id DESC LIMIT ?)",
            (run.namespace, run.name, run.namespace, run.name, KEEP_RUNS))

    async def run(self, name: str, namespace: str, id: str) -> LoadRun | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM load_runs WHERE id = ? AND namespace = ? AND name = ?",
            (id, namespace, name)).fetchone()
        return _run(row) if row else None

    async def ids(self, name: str, namespace: str, limit: int = KEEP_RUNS) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM load_runs WHERE namespace = ? AND name = ?"
            " ORDER BY started_at DESC, id DESC LIMIT ?", (namespace, name, limit))
        return [id_ for (id_,) in rows]

    async def prune(self, now: float) -> None:
        self._db.execute("DELETE FROM load_runs WHERE started_at < ?", (now - KEEP_HISTORY,))


def _run(row: tuple[Any, ...]) -> LoadRun:
    (id_, name, namespace, task_id, description, started_at, ended_at, outcome, reason, series,
     summary, checksum) = row
    return LoadRun(id_, name, namespace, task_id, description, started_at, ended_at, outcome,
                   reason, json.loads(series), json.loads(summary), checksum)
