"""run_spread on a real Redis: a share nobody takes, or taken by a replica that never
reports, ends the run after LOST_AFTER with the reason; nobody waits for ever."""

from __future__ import annotations

import asyncio
import time

import pytest

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.messages import ProgressDelta
from loadtester.settings import Settings
from loadtester.state.base import LoadShares
from loadtester.state.open import open_state
from loadtester.tasks.load_spread import LOST_AFTER, Spread, run_spread
from tests.support.servers import CountingServer

pytestmark = pytest.mark.system
TASK = {"name": "podinfo", "namespace": "test", "metadata": {"type": "load"}}


async def _spread(store: LoadShares, spec: LoadSpec, partial: bool) -> tuple[Spread, float]:
    seen: list[ProgressDelta] = []
    started = time.monotonic()
    spread = await asyncio.wait_for(
        run_spread(spec, TASK, store, "a/1", 2, 0, seen.append, allow_partial=partial,
                   limit=60), 30)
    return spread, time.monotonic() - started


@pytest.mark.parametrize("partial", [False, True])
async def test_a_share_nobody_takes_is_missing(redis_url: str, target: CountingServer,
                                               partial: bool) -> None:
    """Share 1 of 2 with no other replica: share 0 runs, share 1 is missing; the run fails
    with the reason (or, allowPartial, passes with share 0's requests only)."""
    spec = LoadSpec(url=target.url, rate=100, duration=0.5, concurrency=2)
    async with open_state(Settings(state=redis_url, load_workers=1)) as state:
        assert state.shares is not None
        spread, took = await _spread(state.shares, spec, partial)
    reason = "share 2/2 missing: no replica took it before the start"
    assert spread.broken == (None if partial else reason)
    assert [s["state"] for s in spread.replicas] == ["done", "missing"]
    assert spread.replicas[1]["reason"] == reason
    assert spread.result.total == 25 == sum(target.answered.values())
    assert took < 1.0 + LOST_AFTER + 3


async def test_a_share_that_never_reports_is_lost(redis_url: str,
                                                  target: CountingServer) -> None:
    """A replica claims share 1 and says nothing: lost after LOST_AFTER, 0 % sent."""
    spec = LoadSpec(url=target.url, rate=100, duration=0.5, concurrency=2)
    async with open_state(Settings(state=redis_url, load_workers=1)) as state:
        store = state.shares
        assert store is not None
        cursor, _ = await store.take("b/2", "", 0)

        async def claim() -> None:
            nonlocal cursor
            while True:
                cursor, taken = await store.take("b/2", cursor, 0.1)
                if taken:
                    return

        claimer = asyncio.ensure_future(claim())
        spread, _ = await _spread(store, spec, False)
        await claimer
    assert spread.broken == ("share 2/2 lost: replica b/2 stopped answering; 0 % of the "
                             "schedule sent")
