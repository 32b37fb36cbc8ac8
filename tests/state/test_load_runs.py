"""LoadRuns behaviour, the same on every backend."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from loadtester.state.base import KEEP_HISTORY, KEEP_RUNS, LoadRun, State
from loadtester.state.sqlite_runs import SqliteLoadRuns

SERIES = {"step": 1, "targets": {"canary": [
    {"t": 0, "requests": 10, "errors": 1, "p50_ms": 4.5, "p99_ms": 12.0},
    {"t": 1, "requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None}]}}


def _run(id: str, started_at: float, name: str = "podinfo", namespace: str = "test",
         outcome: str = "succeeded", checksum: str = "rev-1") -> LoadRun:
    return LoadRun(id, name, namespace, "task-1", "GET http://podinfo.test/ at 10/s for 2s",
                   started_at, started_at + 2, outcome, "", SERIES,
                   {"requests": 10, "error_rate": 10.0}, checksum)


async def test_a_recorded_run_reads_back_whole(state: State) -> None:
    """Every field of a run, its series included, reads back as it was recorded."""
    now = time.time()
    run = _run("r1", now)
    await state.runs.record(run)
    assert await state.runs.run("podinfo", "test", "r1") == run
    assert await state.runs.ids("podinfo", "test") == ["r1"]


async def test_unknown_ids_and_other_canaries_read_none(state: State) -> None:
    """A run is found only under its own canary and id."""
    await state.runs.record(_run("r1", time.time()))
    assert await state.runs.run("podinfo", "test", "nope") is None
    assert await state.runs.run("other", "test", "r1") is None
    assert await state.runs.run("podinfo", "prod", "r1") is None
    assert await state.runs.ids("other", "test") == []


async def test_ids_list_the_last_started_first(state: State) -> None:
    """ids() lists a canary's runs newest first, bounded by limit, never another canary's."""
    now = time.time()
    for index, id in enumerate(("a", "b", "c")):
        await state.runs.record(_run(id, now + index))
    await state.runs.record(_run("x", now + 10, name="other"))
    assert await state.runs.ids("podinfo", "test") == ["c", "b", "a"]
    assert await state.runs.ids("podinfo", "test", limit=2) == ["c", "b"]


async def test_recording_the_same_id_replaces_it(state: State) -> None:
    """A run recorded again under its id is replaced, not doubled."""
    now = time.time()
    await state.runs.record(_run("r1", now))
    await state.runs.record(_run("r1", now, outcome="failed"))
    stored = await state.runs.run("podinfo", "test", "r1")
    assert stored is not None and stored.outcome == "failed"
    assert await state.runs.ids("podinfo", "test") == ["r1"]


async def test_a_canary_keeps_its_last_runs_only(state: State) -> None:
    """Past KEEP_RUNS runs, a canary's oldest are forgotten; other canaries keep theirs."""
    now = time.time()
    await state.runs.record(_run("keep", now - 100, name="other"))
    for index in range(KEEP_RUNS + 2):
        await state.runs.record(_run(f"r{index:03d}", now + index))
    ids = await state.runs.ids("podinfo", "test", limit=KEEP_RUNS + 10)
    assert len(ids) == KEEP_RUNS
    assert ids[0] == f"r{KEEP_RUNS + 1:03d}" and "r000" not in ids and "r001" not in ids
    assert await state.runs.run("podinfo", "test", "r000") is None
    assert await state.runs.ids("other", "test") == ["keep"]


async def test_prune_forgets_runs_older_than_the_history(state: State) -> None:
    """prune(now) drops runs started more than KEEP_HISTORY before now, keeps the others."""
    now = time.time()
    await state.runs.record(_run("old", now))
    await state.runs.record(_run("new", now + 3600))
    await state.runs.prune(now + KEEP_HISTORY + 1)
    assert await state.runs.ids("podinfo", "test") == ["new"]
    assert await state.runs.run("podinfo", "test", "old") is None
    assert await state.runs.run("podinfo", "test", "new") is not None


async def test_each_run_keeps_its_revision(state: State) -> None:
    """A run's checksum (the revision it ran against) reads back per run, "" when unknown."""
    now = time.time()
    await state.runs.record(_run("a", now, checksum="1111"))
    await state.runs.record(_run("b", now + 1, checksum="2222"))
    await state.runs.record(_run("c", now + 2, checksum=""))
    found = [await state.runs.run("podinfo", "test", id) for id in ("a", "b", "c")]
    assert [run.checksum for run in found if run is not None] == ["1111", "2222", ""]


async def test_a_sqlite_table_without_revisions_gains_the_column(tmp_path: Path) -> None:
    """A load_runs table written before runs kept a checksum opens, old rows reading ""."""
    path = tmp_path / "state.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE load_runs (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
               " namespace TEXT NOT NULL, task_id TEXT NOT NULL, description TEXT NOT NULL,"
               " started_at REAL NOT NULL, ended_at REAL NOT NULL, outcome TEXT NOT NULL,"
               " reason TEXT NOT NULL, series TEXT NOT NULL, summary TEXT NOT NULL)")
    db.execute("INSERT INTO load_runs VALUES ('old', 'podinfo', 'test', 't', 'd', 1, 2,"
               " 'succeeded', '', '{}', '{}')")
    runs = SqliteLoadRuns(db)
    old = await runs.run("podinfo", "test", "old")
    assert old is not None and old.checksum == ""
    await runs.record(_run("new", time.time(), checksum="abcd"))
    new = await runs.run("podinfo", "test", "new")
    assert new is not None and new.checksum == "abcd"
    db.close()
