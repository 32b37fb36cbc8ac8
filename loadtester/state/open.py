"""open_state(settings): the one place that picks the backend `-state` names and opens it.

    -state=memory                 SQLite in memory: a restart forgets everything (Go behaviour)
    -state=DIRECTORY              SQLite file DIRECTORY/loadtester.db (the default)
    -state=redis://[:pw@]host/db  Redis or Valkey (also rediss://), shared by every replica
    -state=redis+sentinel://[:pw@]host1:26379,host2:26379/mymaster[/db]
                                  the primary the sentinels name (also rediss+sentinel://)
    -state=redis+cluster://[:pw@]host1:6379,host2:6379/
                                  a Redis Cluster, every key in one slot (also rediss+cluster://)

Where DIRECTORY cannot be written (Flagger's own chart and kustomize/tester run the image as
another uid, on a read-only root filesystem, with nothing mounted), the service does not
refuse to start. It falls back, in this order:

 1. `$TMPDIR/loadtester-state` (TMPDIR unset: /tmp), a directory of its own: created 0700,
    used only if it is a real directory owned by this uid that nobody else may write. /tmp is
    the one other path the image needs writable (HOME and TMPDIR; an image VOLUME, an emptyDir
    in our manifests), so gates and pending events still outlive a restart of the process, and
    of the container wherever /tmp outlives it (an emptyDir, `docker restart`). TMPDIR itself
    is never created, and nothing is written anywhere else.
 2. memory, as the Go service always does: a restart forgets every gate.

Either way one log line at start-up names the store in use and, on a fallback, why the
directory could not be used; /readyz (headers), /metrics (loadtester_state_backend) and the
console (GET /api/v1/service) show it too. The choice is made once, at start-up.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from loadtester.logs import get_logger
from loadtester.settings import Settings
from loadtester.state.base import State
from loadtester.state.sqlite import SqliteGateStore, SqliteTaskLedger
from loadtester.state.sqlite_admission import SqliteCanaryAdmission
from loadtester.state.sqlite_events import SqliteEventQueue
from loadtester.state.sqlite_history import SqliteAuditLog, SqliteCanaryHistory
from loadtester.state.sqlite_migrate import migrate
from loadtester.state.sqlite_runs import SqliteLoadRuns
from loadtester.state.sqlite_sessions import SqliteSessionRevocations
from loadtester.state.sqlite_shares import LocalLoadShares

DATABASE_FILE = "loadtester.db"
FALLBACK_DIRECTORY = "loadtester-state"  # under $TMPDIR
_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


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


class Unusable(Exception):
    """A directory the store cannot live in; the message (one line) says why."""


def _who(path: Path) -> str:
    """`owner uid U, mode 0750` of a path, for a reason."""
    try:
        info = os.stat(path)
    except OSError:
        return ""
    return f" (owner uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o})"


def _check_writable(path: Path) -> None:
    """Raise Unusable unless this process may create files in (or write) `path`."""
    if os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0)):
        return
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        raise Unusable(f"{path} is on a read-only file system")
    raise Unusable(f"{path} is not writable by uid {os.geteuid()} gid {os.getegid()}"
                   f"{_who(path)}")


def open_writable_database(directory: Path) -> sqlite3.Connection:
    """The store's database in `directory`, proven writable; Unusable says why it is not.

    An existing file that belongs to another uid opens, and even switches to WAL, read-only:
    only a write shows it, so one is tried (and rolled back).
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Unusable(f"cannot create {directory}: {exc.strerror or exc}"
                       f"{_who(directory.parent)}") from None
    _check_writable(directory)
    path = directory / DATABASE_FILE
    if path.exists():
        _check_writable(path)
    try:
        connection = open_database(path)
    except sqlite3.Error as exc:
        raise Unusable(f"cannot open {path}: {exc}") from None
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(f"PRAGMA user_version={int(version)}")
        finally:
            connection.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _BUSY:
            return connection  # another process is writing it: writable, just not this instant
        connection.close()
        raise Unusable(f"cannot write {path}: {exc}") from None
    return connection


def fallback_directory() -> Path | None:
    """`$TMPDIR/loadtester-state` (TMPDIR unset: /tmp); None for a relative TMPDIR."""
    base = Path(os.environ.get("TMPDIR") or "/tmp")
    return base / FALLBACK_DIRECTORY if base.is_absolute() else None


def _private_directory(path: Path) -> None:
    """Create `path` 0700 (not its parent); Unusable unless it is then a real directory of
    this uid that nobody else may write (a shared /tmp: another user may have made it)."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise Unusable(f"cannot create {path}: {exc.strerror or exc}{_who(path.parent)}") from None
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise Unusable(f"{path} is not a directory")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise Unusable(f"{path} is not a private directory of uid {os.geteuid()}{_who(path)}")


def _open_database(settings: Settings) -> tuple[sqlite3.Connection, str, str, str]:
    """(connection, kind, location, fallback reason): -state's directory, else the fallback
    directory, else memory; logs the one line that says which, and why."""
    log = get_logger()
    if settings.state_backend == "memory":
        log.info("state kept in memory: a restart forgets gates and pending events",
                 backend="memory", fallback=False)
        return open_database(":memory:"), "memory", "", ""
    configured = Path(settings.state)
    try:
        connection = open_writable_database(configured)
    except Unusable as exc:
        reason = str(exc)
    else:
        location = str(configured / DATABASE_FILE)
        log.info("state kept in SQLite", backend="sqlite", fallback=False, path=location)
        return connection, "sqlite", location, ""
    spare = fallback_directory()
    if spare is not None and spare != configured:
        try:
            _private_directory(spare)
            connection = open_writable_database(spare)
        except Unusable as exc:
            reason = f"{reason}; fallback: {exc}"
        else:
            location = str(spare / DATABASE_FILE)
            log.warning("state directory not usable: state kept in SQLite under TMPDIR instead",
                        backend="sqlite", fallback=True, path=location,
                        configured=settings.state, reason=reason)
            return connection, "sqlite", location, reason
    log.warning("state directory not usable: state kept in memory, a restart forgets gates "
                "and pending events", backend="memory", fallback=True,
                configured=settings.state, reason=reason)
    return open_database(":memory:"), "memory", "", reason


@asynccontextmanager
async def open_state(settings: Settings) -> AsyncIterator[State]:
    """The backend's stores, closed on exit. Redis need not be up yet: it is reconnected to."""
    if settings.state_backend != "redis":
        connection, kind, location, fallback = _open_database(settings)
        try:
            migrate(connection)  # keys written by an earlier release
            yield State(kind, SqliteGateStore(connection), SqliteTaskLedger(connection),
                        SqliteEventQueue(connection), _always_ready,
                        SqliteCanaryHistory(connection), SqliteAuditLog(connection),
                        admission=SqliteCanaryAdmission(connection),
                        revocations=SqliteSessionRevocations(connection),
                        runs=SqliteLoadRuns(connection),
                        location=location, fallback=fallback, shares=LocalLoadShares(kind))
        finally:
            connection.close()
        return
    # imported here: a service without Redis does not pay for the client's memory
    from loadtester.state import redis as redis_state
    from loadtester.state.redis_admission import RedisCanaryAdmission
    from loadtester.state.redis_cluster import refuse_non_cluster
    from loadtester.state.redis_events import RedisEventQueue
    from loadtester.state.redis_history import RedisAuditLog, RedisCanaryHistory
    from loadtester.state.redis_runs import RedisLoadRuns
    from loadtester.state.redis_sessions import RedisSessionRevocations
    from loadtester.state.redis_shares import RedisLoadShares

    await refuse_non_cluster(settings.state)
    client = redis_state.connect(settings.state, settings.state_min_replicas)
    get_logger().info("state kept in Redis", backend="redis", fallback=False,
                      location=settings.state_for_logs)

    prefix = redis_state.key_prefix(settings.state)

    @redis_state.answers_or_unavailable
    async def ping() -> None:
        await redis_state.ping(client, prefix)

    try:
        yield State("redis", redis_state.RedisGateStore(client, prefix),
                    redis_state.RedisTaskLedger(client, prefix),
                    RedisEventQueue(client, prefix), ping,
                    RedisCanaryHistory(client, prefix), RedisAuditLog(client, prefix),
                    admission=RedisCanaryAdmission(client, prefix),
                    revocations=RedisSessionRevocations(client, prefix),
                    runs=RedisLoadRuns(client, prefix),
                    shares=RedisLoadShares(client, prefix))
    finally:
        await redis_state.close(client)
