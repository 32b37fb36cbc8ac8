"""Worker processes: splitting, progress deltas, cancellation and parent death leave no orphan."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
import time

import pytest

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.messages import ProgressDelta
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.shares import plan_shares
from loadtester.loadgen.running.workers import run_load
from tests.support.servers import Reply, ServerFactory


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _workers() -> list[int]:
    return [
        p.pid for p in multiprocessing.active_children() if p.name.startswith("loadgen-") and p.pid
    ]


def test_plan_shares() -> None:
    """Concurrency, rate and requests are split without loss; schedules interleave."""
    spec = LoadSpec(url="http://x/", requests=1001, concurrency=5, rate=100)
    shares = plan_shares(spec, 3)
    assert [s.concurrency for s in shares] == [2, 2, 1]
    assert sum(s.requests or 0 for s in shares) == 1001
    assert sum(s.rate for s in shares) == 100
    assert [s.offset for s in shares] == [0.0, 0.01, 0.02]
    assert len(plan_shares(LoadSpec(url="http://x/", requests=2, concurrency=2), 8)) == 2


@pytest.mark.system
async def test_progress_deltas_add_up(serve: ServerFactory) -> None:
    """Per-interval deltas from every worker sum to the final result."""
    server = await serve(lambda n: Reply())
    seen: list[ProgressDelta] = []
    spec = LoadSpec(url=server.url, rate=200, duration=1.0, concurrency=4)
    result = await run_load(spec, workers=2, on_progress=seen.append, progress_interval=0.2)
    assert {d.worker for d in seen} == {0, 1}
    assert len(seen) >= 6
    total = LoadResult()
    for delta in seen:
        total.merge(delta.delta)
    assert total.status_counts == result.status_counts == dict(server.answered)
    assert total.histogram.counts == result.histogram.counts


async def test_cancel_terminates_workers(serve: ServerFactory) -> None:
    """Cancelling run_load ends every worker process promptly."""
    server = await serve(lambda n: Reply())
    started = asyncio.Event()
    spec = LoadSpec(url=server.url, rate=100, duration=60.0, concurrency=2)
    task = asyncio.create_task(
        run_load(spec, workers=2, on_progress=lambda d: started.set(), progress_interval=0.1)
    )
    await asyncio.wait_for(started.wait(), 20)
    pids = _workers()
    assert len(pids) == 2
    begin = time.monotonic()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert time.monotonic() - begin < 3
    assert not any(_alive(pid) for pid in pids)
    assert _workers() == []


_CHILD = """
import multiprocessing, sys
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.workers import run_load_sync
def show(delta):
    pids = [p.pid for p in multiprocessing.active_children() if p.name.startswith("loadgen-")]
    print(" ".join(map(str, pids)), flush=True)
spec = LoadSpec(url=sys.argv[1], rate=50, duration=60.0, concurrency=2)
run_load_sync(spec, 2, show, progress_interval=0.1)
"""


async def test_workers_die_with_the_parent(serve: ServerFactory) -> None:
    """If the process running run_load is SIGKILLed, its workers exit too."""
    server = await serve(lambda n: Reply())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, server.url, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    pids = [int(p) for p in line.split()]
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)
