"""Rewrite a database file written by an earlier release to this one's keys, once, at open.

Earlier releases keyed gates `<name>.<namespace>` and rollbacks `rollback.<name>.<namespace>`
(the gate of `rollback.x` and the rollback of `x` shared a key), ledger keys
`<name>.<namespace>/<digest>` and event lanes `<name>.<namespace>`. SQLite's user_version says
which keys a file holds: 0, the earlier form; KEYS_VERSION, store_keys'. Every row is
rewritten in one transaction, so a file is either all old or all new, and a crash mid-way
leaves it old (it is migrated again at the next open). Replicas sharing one file must run the
same release: one of an earlier release would go on writing the old keys.
"""

from __future__ import annotations

import functools
import sqlite3

from loadtester.logs import get_logger
from loadtester.state.store_keys import (
    canary_id,
    from_legacy_gate,
    from_legacy_task,
    legacy_canary,
    split_legacy_canary,
    task_key,
)

KEYS_VERSION = 1


def add_column(db: sqlite3.Connection, table: str, column: str, definition: str) -> None:
    """Add ``column`` to ``table`` in a file an earlier release wrote without it."""
    if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def migrate(db: sqlite3.Connection) -> None:
    """Bring the file's keys to KEYS_VERSION (a new file is only marked)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version >= KEYS_VERSION:
            db.execute("ROLLBACK")
            return
        tables = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        moved = {table: rewrite(db) for table, rewrite in _REWRITES.items() if table in tables}
        db.execute(f"PRAGMA user_version={KEYS_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    if any(moved.values()):
        get_logger().info("state keys migrated", version=KEYS_VERSION, **moved)


def _gates(db: sqlite3.Connection) -> int:
    # the stored name and namespace tell the gate of `rollback.x` from the rollback of `x`
    rows = db.execute("SELECT key, name, namespace FROM gates").fetchall()
    changes = [(from_legacy_gate(key, name, namespace), key) for key, name, namespace in rows]
    db.executemany("UPDATE OR REPLACE gates SET key = ? WHERE key = ?", changes)
    return len(changes)


def _task_leases(db: sqlite3.Connection) -> int:
    changes = []
    for (key,) in db.execute("SELECT key FROM task_leases").fetchall():
        moved = from_legacy_task(key)
        if moved is not None:
            changes.append((*moved, key))
    db.executemany("UPDATE OR REPLACE task_leases SET key = ?, canary = ? WHERE key = ?",
                   changes)
    return len(changes)


def _task_failures(db: sqlite3.Connection) -> int:
    changes = []
    for (key,) in db.execute("SELECT key FROM task_failures").fetchall():
        moved = from_legacy_task(key)
        if moved is not None:
            changes.append((moved[0], key))
    db.executemany("UPDATE OR REPLACE task_failures SET key = ? WHERE key = ?", changes)
    return len(changes)


@functools.lru_cache(maxsize=4096)
def _new_lane(lane: str, name: object, namespace: object) -> str:
    if isinstance(name, str) and isinstance(namespace, str):
        return canary_id(name, namespace)
    # an event that cannot be read back is only dead-lettered: its lane by its old name
    return canary_id(*split_legacy_canary(lane))


def _outbox(db: sqlite3.Connection) -> int:
    # one statement, and the indexes on `lane` rebuilt once: much faster than row by row
    indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                         " AND tbl_name = 'outbox' AND sql LIKE '%lane%'").fetchall()
    for name, _sql in indexes:
        db.execute(f'DROP INDEX "{name}"')
    db.create_function("new_lane", 3, _new_lane, deterministic=True)
    moved = db.execute(
        "UPDATE outbox SET lane = CASE WHEN json_valid(event) THEN new_lane(lane,"
        " json_extract(event, '$.name'), json_extract(event, '$.namespace'))"
        " ELSE new_lane(lane, NULL, NULL) END").rowcount
    for _name, sql in indexes:
        db.execute(sql)
    # SqliteEventQueue rebuilds the lanes from the pending rows when it opens
    db.execute("DELETE FROM lanes")
    return int(moved)


def _task_records(db: sqlite3.Connection) -> int:
    # a background run's record id is its ledger key; a blocking one's, a uuid (kept)
    changes = []
    rows = db.execute("SELECT id, name, namespace FROM task_records WHERE background = 1")
    for record_id, name, namespace in rows.fetchall():
        canary, slash, digest = str(record_id).rpartition("/")
        if slash and canary == legacy_canary(name, namespace):
            changes.append((task_key(name, namespace, digest), record_id))
    db.executemany("UPDATE OR REPLACE task_records SET id = ? WHERE id = ?", changes)
    return len(changes)


_REWRITES = {
    "gates": _gates,
    "task_leases": _task_leases,
    "task_failures": _task_failures,
    "outbox": _outbox,
    "task_records": _task_records,
}
