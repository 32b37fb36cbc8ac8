"""Gate and rollback state: the GateStore protocol, an in-memory and a SQLite store."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

# how stale a SQLite store's view of changes made by another process may be
_RELOAD_INTERVAL = 0.05


def gate_key(name: str, namespace: str) -> str:
    """The Go service's key of a canary's gate."""
    return f"{name}.{namespace}"


def rollback_key(name: str, namespace: str) -> str:
    """The Go service's key of a canary's rollback switch."""
    return f"rollback.{name}.{namespace}"


@dataclass(frozen=True)
class GateChange:
    """A gate's state, who set it and for which canary."""

    is_open: bool
    by: str = ""
    checksum: str = ""
    at: float = 0.0
    name: str = ""
    namespace: str = ""


class GateStore(Protocol):
    """Where gates live; closed is the state of any key never opened."""

    def is_open(self, key: str) -> bool: ...

    def set(self, key: str, change: GateChange) -> None: ...

    def get(self, key: str) -> GateChange | None: ...

    def states(self) -> Iterator[tuple[str, GateChange]]:
        """Every key ever set and its last change."""
        ...


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

    def states(self) -> Iterator[tuple[str, GateChange]]:
        yield from list(self._gates.items())


class SqliteGateStore:
    """Gates in the embedded database: they survive restarts and kill -9.

    Checks are answered from a copy of the open keys kept in memory. Another process on the
    same file (a second replica) is noticed through SQLite's data_version, looked at no more
    often than every 50 ms.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS gates ("
            " key TEXT PRIMARY KEY, is_open INTEGER NOT NULL, changed_by TEXT NOT NULL,"
            " checksum TEXT NOT NULL, changed_at REAL NOT NULL,"
            " name TEXT NOT NULL DEFAULT '', namespace TEXT NOT NULL DEFAULT '')"
        )
        self._version = -1
        self._looked_at = -_RELOAD_INTERVAL
        self._open: set[str] = set()

    def is_open(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._looked_at >= _RELOAD_INTERVAL:
            self._looked_at = now
            (version,) = self._db.execute("PRAGMA data_version").fetchone()
            if version != self._version:
                rows = self._db.execute("SELECT key FROM gates WHERE is_open = 1").fetchall()
                self._open = {key for (key,) in rows}
                self._version = version
        return key in self._open

    def set(self, key: str, change: GateChange) -> None:
        self._db.execute(
            "INSERT INTO gates (key, is_open, changed_by, checksum, changed_at, name, namespace)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
            " is_open = excluded.is_open, changed_by = excluded.changed_by,"
            " checksum = excluded.checksum, changed_at = excluded.changed_at,"
            " name = excluded.name, namespace = excluded.namespace",
            (key, int(change.is_open), change.by, change.checksum, change.at or time.time(),
             change.name, change.namespace),
        )
        if change.is_open:
            self._open.add(key)
        else:
            self._open.discard(key)

    def get(self, key: str) -> GateChange | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM gates WHERE key = ?", (key,)).fetchone()
        return _change(row) if row else None

    def states(self) -> Iterator[tuple[str, GateChange]]:
        for key, *row in self._db.execute(f"SELECT key, {_COLUMNS} FROM gates").fetchall():
            yield key, _change(tuple(row))


_COLUMNS = "is_open, changed_by, checksum, changed_at, name, namespace"


def _change(row: tuple[object, ...]) -> GateChange:
    is_open, by, checksum, at, name, namespace = row
    return GateChange(bool(is_open), str(by), str(checksum), float(str(at)), str(name),
                      str(namespace))
