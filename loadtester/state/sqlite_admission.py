"""CanaryAdmission in SQLite: one row per account, day and canary."""

from __future__ import annotations

import sqlite3

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS canary_admissions ("
    " account TEXT NOT NULL, day INTEGER NOT NULL, namespace TEXT NOT NULL,"
    " name TEXT NOT NULL, PRIMARY KEY (account, day, namespace, name))",
    "CREATE INDEX IF NOT EXISTS canary_admissions_day ON canary_admissions (day)",
)
# one statement, so atomic across the processes sharing the file: counted under the limit
_ADMIT = (
    "INSERT INTO canary_admissions (account, day, namespace, name)"
    " SELECT :account, :day, :namespace, :name"
    " WHERE (SELECT COUNT(*) FROM canary_admissions"
    "        WHERE account = :account AND day = :day) < :limit"
    " ON CONFLICT DO NOTHING"
)
_ADMITTED = ("SELECT 1 FROM canary_admissions"
             " WHERE account = ? AND day = ? AND namespace = ? AND name = ?")


class SqliteCanaryAdmission:
    """CanaryAdmission on one SQLite connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        for statement in _SCHEMA:
            self._db.execute(statement)

    async def admit(self, account: str, name: str, namespace: str, day: int,
                    limit: int) -> bool:
        values = {"account": account, "day": day, "namespace": namespace, "name": name,
                  "limit": limit}
        if self._db.execute(_ADMIT, values).rowcount:
            return True
        # not inserted: named already today (admitted), or over the limit
        return self._db.execute(_ADMITTED, (account, day, namespace, name)).fetchone() is not None

    async def prune(self, day: int) -> None:
        self._db.execute("DELETE FROM canary_admissions WHERE day < ?", (day - 1,))
