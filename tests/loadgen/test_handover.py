"""A run handed over from the calling process to worker processes: one schedule, no loss."""

from __future__ import annotations

import asyncio

import pytest

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.messages import ProgressDelta
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.workers import run_load
from tests.support.servers import Reply, ServerFactory

_CALLER = -1  # the worker number of progress from the calling process


def _sent_by(seen: list[ProgressDelta]) -> tuple[int, int]:
    """Requests reported by the calling process and by the workers."""
    here = sum(d.delta.total for d in seen if d.worker == _CALLER)
    return here, sum(d.delta.total for d in seen if d.worker != _CALLER)


@pytest.mark.system
async def test_request_count_is_split_exactly(serve: ServerFactory) -> None:
    """-n: the calling process sends first, the workers send the rest; the server sees n."""
    server = await serve(lambda n: Reply())
    seen: list[ProgressDelta] = []
    spec = LoadSpec(url=server.url, requests=1000, concurrency=4, rate=200)
    result = await run_load(spec, workers=2, on_progress=seen.append, progress_interval=0.2,
                            hand_over=True)  # fmt: skip
    assert result.total == 1000 == server.answered[200]
    here, workers = _sent_by(seen)
    assert here > 0 and workers > 0 and here + workers == 1000


@pytest.mark.system
async def test_timed_run_keeps_its_rate_across_the_hand_over(serve: ServerFactory) -> None:
    """-z with a rate: the workers go on with the caller's schedule, not a new one."""
    server = await serve(lambda n: Reply())
    seen: list[ProgressDelta] = []
    spec = LoadSpec(url=server.url, duration=4.0, concurrency=4, rate=250)
    result = await run_load(spec, workers=2, on_progress=seen.append, progress_interval=0.2,
                            hand_over=True)  # fmt: skip
    here, workers = _sent_by(seen)
    assert here > 0 and workers > 0
    assert result.total == server.answered[200] == here + workers
    assert abs(result.total + result.unsent - 1000) <= 3  # 4 s at 250/s, one schedule
    merged = LoadResult()
    for delta in seen:
        merged.merge(delta.delta)
    assert merged.status_counts == result.status_counts


async def test_stop_before_the_workers_are_ready(serve: ServerFactory) -> None:
    """Stopping while the workers start returns what the calling process sent."""
    stop = asyncio.Event()
    server = await serve(lambda n: (stop.set(), Reply())[1])
    spec = LoadSpec(url=server.url, duration=60.0, concurrency=2)
    result = await asyncio.wait_for(run_load(spec, workers=2, stop=stop, hand_over=True), 30)
    assert 0 < result.total == sum(server.answered.values())
