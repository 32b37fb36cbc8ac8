"""open_state(settings): the one place that picks the backend `-state` names and opens it.

    -state=memory                 SQLite in memory: a restart forgets everything (Go behaviour)
    -state=DIRECTORY              SQLite file DIRECTORY/loadtester.db (the default)
    -state=redis://[:pw@]host/db  Redis or Valkey (also rediss://), shared by every replica
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from loadtester.logs import get_logger
from loadtester.settings import Settings
from loadtester.state.base import State
from loadtester.state.sqlite import SqliteGateStore, SqliteTaskLedger
from loadtester.state.sqlite_events import SqliteEventQueue
from loadtester.state.sqlite_history import SqliteAuditLog, SqliteCanaryHistory


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


async def _always_ready() -> None:
    """A local database is there as long as the process is."""


def _open_database(settings: Settings) -> tuple[sqlite3.Connection, str]:
    """The file under `-state`, or memory where it cannot be written.

    Flagger's own Deployment mounts no volume on a read-only root filesystem; rather than
    refuse to start there, the service keeps its state in memory, as the Go service does.
    """
    if settings.state_backend == "memory":
        return open_database(":memory:"), "memory"
    try:
        return open_database(settings.database_path), "sqlite"
    except (OSError, sqlite3.Error) as exc:
        get_logger().warning(
            "state directory not writable: gates and pending events are kept in memory only",
            state=settings.state, error=str(exc),
        )
        return open_database(":memory:"), "memory"


@asynccontextmanager
async def open_state(settings: Settings) -> AsyncIterator[State]:
    """The backend's stores, closed on exit. Redis need not be up yet: it is reconnected to."""
    if settings.state_backend != "redis":
        connection, kind = _open_database(settings)
        try:
            yield State(kind, SqliteGateStore(connection), SqliteTaskLedger(connection),
                        SqliteEventQueue(connection), _always_ready,
                        SqliteCanaryHistory(connection), SqliteAuditLog(connection))
        finally:
            connection.close()
        return
    # imported here: a service without Redis does not pay for the client's memory
    from loadtester.state import redis as redis_state
    from loadtester.state.redis_events import RedisEventQueue
    from loadtester.state.redis_history import RedisAuditLog, RedisCanaryHistory

    client = redis_state.connect(settings.state)

    @redis_state.answers_or_unavailable
    async def ping() -> None:
        await client.ping()

    prefix = redis_state.PREFIX
    try:
        yield State("redis", redis_state.RedisGateStore(client, prefix),
                    redis_state.RedisTaskLedger(client, prefix),
                    RedisEventQueue(client, prefix), ping,
                    RedisCanaryHistory(client, prefix), RedisAuditLog(client, prefix))
    finally:
        await client.aclose()
