"""A page of the canary list in SQLite: a keyset query on an index in the list's order
(last_seen, namespace, name), so that a page costs its `limit` rows whatever the history holds."""

from __future__ import annotations

import sqlite3

from loadtester.state.base import CanaryRecord
from loadtester.state.pages import CanaryCursor

INDEXES = ("CREATE INDEX IF NOT EXISTS canaries_page ON canaries (last_seen DESC, namespace, name)",
           # a namespace-bound token's pages
           "CREATE INDEX IF NOT EXISTS canaries_namespace_page"
           " ON canaries (namespace, last_seen DESC, name)")
_COLUMNS = "name, namespace, phase, phase_at, checksum, first_seen, last_seen"
_AFTER = (" AND (last_seen < :seen OR (last_seen = :seen AND"
          " (namespace > :namespace OR (namespace = :namespace AND name > :name))))")


def canary_page(db: sqlite3.Connection, since: float, limit: int, after: CanaryCursor | None,
                namespaces: frozenset[str] | None) -> list[CanaryRecord]:
    """canaries(since) after `after`, of `namespaces` (None: all), `limit` at most."""
    if limit <= 0 or (namespaces is not None and not namespaces):
        return []
    values: dict[str, object] = {"since": since, "limit": limit}
    where = "last_seen >= :since"
    if after is not None:
        where += _AFTER
        values.update(seen=after.last_seen, namespace=after.namespace, name=after.name)
    if namespaces is not None:
        names = sorted(namespaces)
        where += f" AND namespace IN ({', '.join(f':ns{i}' for i in range(len(names)))})"
        values.update({f"ns{i}": namespace for i, namespace in enumerate(names)})
    rows = db.execute(f"SELECT {_COLUMNS} FROM canaries WHERE {where}"
                      " ORDER BY last_seen DESC, namespace, name LIMIT :limit", values)
    return [CanaryRecord(*row) for row in rows]
