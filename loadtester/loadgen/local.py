"""A run in the calling process: no worker to spawn, so the first request leaves at once.

`loadtester load` runs here whatever one process sends faster than worker processes would
start (about a second of interpreter start-up and imports each): a bounded number of requests,
or a rate one process keeps. Open-ended runs at full speed (``-z`` without ``-q``) and big ones
go to :func:`loadtester.loadgen.workers.run_load`, whose throughput the benches measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from loadtester.loadgen.details import Details
from loadtester.loadgen.engine import Engine, WorkerShare
from loadtester.loadgen.result import LoadResult
from loadtester.loadgen.spec import LoadSpec
from loadtester.loadgen.workers import ProgressDelta

__all__ = ["LOCAL_MAX_CONNECTIONS", "LOCAL_MAX_RATE", "LOCAL_MAX_REQUESTS", "fits_locally",
           "run_local"]

# What one process (uvloop + httptools) sends in well under the start-up time of the workers.
LOCAL_MAX_REQUESTS = 5_000
LOCAL_MAX_RATE = 2_000.0  # requests/s in all, for open-loop runs of any duration
LOCAL_MAX_CONNECTIONS = 500


def fits_locally(spec: LoadSpec, workers: int | None) -> bool:
    """Whether the calling process can run ``spec`` as fast as worker processes would.

    ``workers``: the -workers flag (None: not given). One worker means one process, this one;
    more than one given explicitly means worker processes."""
    if workers is not None:
        return workers == 1
    if spec.concurrency > LOCAL_MAX_CONNECTIONS:
        return False
    if spec.duration is None:
        total = spec.total_requests
        return total is not None and total <= LOCAL_MAX_REQUESTS
    return 0 < spec.rate <= LOCAL_MAX_RATE


async def run_local(
    spec: LoadSpec,
    on_progress: Callable[[ProgressDelta], None] | None = None,
    *,
    progress_interval: float = 1.0,
    stop: asyncio.Event | None = None,
    details: Details | None = None,
) -> LoadResult:
    """Run ``spec`` on the running event loop; ``stop`` ends it early with what was sent."""
    loop = asyncio.get_running_loop()
    share = WorkerShare(concurrency=spec.concurrency, rate=spec.rate,
                        requests=spec.total_requests)  # fmt: skip
    engine = Engine(spec, share)
    total = LoadResult(target_rate=spec.rate)

    def collect() -> LoadResult:
        delta, seen = engine.take_all()
        total.merge(delta)
        if details is not None:
            details.merge(seen)
        return delta

    async def report() -> None:
        while True:
            await asyncio.sleep(progress_interval)
            delta = collect()
            if on_progress is not None:
                on_progress(ProgressDelta(worker=0, elapsed=delta.elapsed, delta=delta))

    async def watch_stop() -> None:
        assert stop is not None
        await stop.wait()
        engine.stop()

    helpers = [loop.create_task(report())]
    if stop is not None:
        helpers.append(loop.create_task(watch_stop()))
    try:
        await engine.prepare()  # one lookup and the connections: on a LAN, a millisecond
        if stop is None or not stop.is_set():
            await engine.run(time.monotonic_ns())
    finally:
        for helper in helpers:
            helper.cancel()
        for helper in helpers:
            with contextlib.suppress(asyncio.CancelledError):
                await helper
    delta = collect()
    if on_progress is not None:
        on_progress(ProgressDelta(worker=0, elapsed=delta.elapsed, delta=delta))
    total.target_rate = spec.rate
    return total
