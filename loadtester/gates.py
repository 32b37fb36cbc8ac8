"""Gate and rollback state: the GateStore protocol, an in-memory and a SQLite store."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Protocol


def gate_key(name: str, namespace: str) -> str:
    """The Go service's key of a canary's gate."""
    return f"{name}.{namespace}"


def rollback_key(name: str, namespace: str) -> str:
    """The Go service's key of a canary's rollback switch."""
    return f"rollback.{name}.{namespace}"


@dataclass(frozen=True)
class GateChange:
    """Who opened or closed a gate, kept beside its state."""

    is_open: bool
    by: str = ""
    checksum: str = ""
    at: float = 0.0


class GateStore(Protocol):
    """Where gates live; closed is the state of any key never opened."""

    def is_open(self, key: str) -> bool: ...

    def set(self, key: str, change: GateChange) -> None: ...

    def get(self, key: str) -> GateChange | None: ...


class MemoryGateStore:
    """The Go service's behaviour: a restart closes every gate."""

    def __init__(self) -> None:
        self._gates: dict[str, GateChange] = {}

    def is_open(self, key: str) -> bool:
        change = self._gates.get(key)
        return change is not None and change.is_open

    def set(self, key: str, change: GateChange) -> None:
        self._gates[key] = change

    def get(self, key: str) -> GateChange | None:
        return self._gates.get(key)


class SqliteGateStore:
    """Gates in the embedded database: they survive restarts and kill -9.

    Checks are answered from a copy of the open keys kept in memory, reloaded when SQLite's
    data_version says another connection (another replica on the file) changed it.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS gates ("
            " key TEXT PRIMARY KEY, is_open INTEGER NOT NULL, changed_by TEXT NOT NULL,"
            " checksum TEXT NOT NULL, changed_at REAL NOT NULL)"
        )
        self._version = -1
        self._open: set[str] = set()

    def is_open(self, key: str) -> bool:
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version != self._version:
            rows = self._db.execute("SELECT key FROM gates WHERE is_open = 1").fetchall()
            self._open = {key for (key,) in rows}
            self._version = version
        return key in self._open

    def set(self, key: str, change: GateChange) -> None:
        self._db.execute(
            "INSERT INTO gates (key, is_open, changed_by, checksum, changed_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET is_open = excluded.is_open,"
            " changed_by = excluded.changed_by, checksum = excluded.checksum,"
            " changed_at = excluded.changed_at",
            (key, int(change.is_open), change.by, change.checksum, change.at or time.time()),
        )
        if change.is_open:
            self._open.add(key)
        else:
            self._open.discard(key)

    def get(self, key: str) -> GateChange | None:
        row = self._db.execute(
            "SELECT is_open, changed_by, checksum, changed_at FROM gates WHERE key = ?", (key,)
        ).fetchone()
        return GateChange(bool(row[0]), row[1], row[2], row[3]) if row else None
