"""The embedded SQLite database that gates and the event outbox share."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from loadtester.logs import get_logger
from loadtester.settings import Settings


def open_database(path: Path | str) -> sqlite3.Connection:
    """Open (creating if needed) the database file in WAL mode.

    WAL with synchronous=NORMAL keeps every committed write across a crash of the process
    (kill -9); only a power loss may lose the last transactions.
    """
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection


def open_state(settings: Settings) -> sqlite3.Connection:
    """The service's database: the file under `-state`, or in memory.

    Flagger's own Deployment mounts no volume on a read-only root filesystem; rather than
    refuse to start there, the service keeps its state in memory, as the Go service does.
    """
    if settings.in_memory:
        return open_database(":memory:")
    try:
        return open_database(settings.database_path)
    except (OSError, sqlite3.Error) as exc:
        get_logger().warning(
            "state directory not writable: gates and pending events are kept in memory only",
            state=settings.state, error=str(exc),
        )
        return open_database(":memory:")
