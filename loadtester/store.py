"""The embedded SQLite database that gates and the event outbox share."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database file in WAL mode.

    WAL with synchronous=NORMAL keeps every committed write across a crash of the process
    (kill -9); only a power loss may lose the last transactions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection
