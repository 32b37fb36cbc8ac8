"""LoadShares behaviour: on a shared store (Redis, Sentinel, Cluster) runs are handed out one
share per replica and the shares' reports come back; a store of one replica's own refuses."""

from __future__ import annotations

import time

import pytest

from loadtester.errors import BadRequest
from loadtester.state.base import LoadShares, SharedRun, ShareReport, State

TASK = {"name": "podinfo", "namespace": "test", "metadata": {"type": "load", "url": "http://x/"}}


def shared(state: State) -> LoadShares:
    """The state's LoadShares, on a backend the replicas share (others skip the test)."""
    assert state.shares is not None
    if state.shares.refusal() is not None:
        pytest.skip("a store of one replica's own: see test_local_store_refuses")
    return state.shares


def _run(id: str, shares: int = 3, start_in: float = 5.0) -> SharedRun:
    now = time.time()
    return SharedRun(id, shares, now + start_in, now + start_in + 30, TASK)


async def test_local_store_refuses(state: State) -> None:
    """SQLite and memory name the store replicas need; Redis-shaped stores refuse nothing."""
    assert state.shares is not None
    refusal = state.shares.refusal()
    if state.kind == "redis":
        assert refusal is None
        return
    assert refusal is not None and refusal.startswith("replicas needs -state=redis://")
    assert state.kind in refusal
    with pytest.raises(BadRequest, match="replicas needs -state=redis://"):
        await state.shares.live()


async def test_heartbeats_count_live_replicas(state: State) -> None:
    """Each replica's heartbeat counts it live until it lapses or it leaves."""
    shares = shared(state)
    assert await shares.live() == 0
    assert await shares.heartbeat("a/1", 5.0) == 1
    assert await shares.heartbeat("b/2", 5.0) == 2
    assert await shares.heartbeat("a/1", 5.0) == 2
    await shares.heartbeat("c/3", 0.05)
    assert await shares.live() == 3
    time.sleep(0.1)
    assert await shares.live() == 2
    await shares.leave("b/2")
    assert await shares.live() == 1


async def test_each_replica_claims_at_most_one_share(state: State) -> None:
    """Shares 1..n-1 go to the first replicas that read the run, one each; the publisher and
    a replica that already holds one get none."""
    shares = shared(state)
    initial, _ = await shares.take("a/1", "", 0)
    cursors = dict.fromkeys(("a/1", "b/2", "c/3", "d/4"), initial)
    await shares.publish(_run("r1"), "a/1")
    taken = []
    for replica in ("a/1", "b/2", "c/3", "d/4"):
        cursors[replica], got = await shares.take(replica, cursors[replica], 0.1)
        taken += [(replica, run.id, share) for run, share in got]
    assert taken == [("b/2", "r1", 1), ("c/3", "r1", 2)]
    _, again = await shares.take("b/2", initial, 0.1)  # the same announcement read twice
    assert again == []
    assert await shares.owners("r1") == {0: "a/1", 1: "b/2", 2: "c/3"}


async def test_a_run_already_started_is_not_joined(state: State) -> None:
    """A replica reading a run after its start takes no share of it."""
    shares = shared(state)
    cursor, _ = await shares.take("b/2", "", 0)
    await shares.publish(_run("late", start_in=-1.0), "a/1")
    _, got = await shares.take("b/2", cursor, 0.1)
    assert got == []
    assert await shares.owners("late") == {0: "a/1"}


async def test_reports_come_back_in_order_until_stopped(state: State) -> None:
    """A share's reports read back in order after a cursor; once stopped, report says so."""
    shares = shared(state)
    await shares.publish(_run("r2", shares=2), "a/1")
    first = ShareReport(1, "b/2", "progress", {"delta": {"codes": {"200": 3}}})
    last = ShareReport(1, "b/2", "done", {"delta": {}, "result": {"codes": {"200": 3}}})
    assert await shares.report("r2", first)
    cursor, got = await shares.reports("r2", "", 0.1)
    assert got == [first]
    assert await shares.report("r2", last)
    cursor, got = await shares.reports("r2", cursor, 0.1)
    assert got == [last]
    assert await shares.reports("r2", cursor, 0) == (cursor, [])
    await shares.stop("r2")
    assert not await shares.report("r2", first)
