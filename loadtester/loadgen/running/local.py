"""A run in the calling process: no worker to spawn, so the first request leaves at once.

`loadtester load` runs here whatever one process sends faster than worker processes would
start (about a second of interpreter start-up and imports each): a bounded number of requests,
or a rate one process keeps. Open-ended runs at full speed (``-z`` without ``-q``) and big ones
go to :func:`loadtester.loadgen.running.workers.run_load`, whose throughput the benches measure; it
starts them here too (a LocalRun) and hands them over once its workers are ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.details import Details
from loadtester.loadgen.results.messages import ProgressDelta
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.factory import new_engine
from loadtester.loadgen.running.shares import WorkerShare
from loadtester.loadgen.running.sizing import size_workers

__all__ = ["LOCAL_MAX_CONNECTIONS", "LOCAL_MAX_RATE", "LOCAL_MAX_REQUESTS", "LocalRun",
           "fits_locally", "run_local"]

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
    targets = 2 if spec.compare is not None else 1  # a compare run sends each request twice
    if targets * spec.concurrency > LOCAL_MAX_CONNECTIONS:
        return False
    if spec.duration is None and targets * (spec.total_requests or 0) <= LOCAL_MAX_REQUESTS:
        return True
    if spec.duration is not None and 0 < targets * spec.rate <= LOCAL_MAX_RATE:
        return True
    return size_workers(spec).workers == 0  # a slow bounded run, or no memory for a worker


class LocalRun:
    """An engine on the running event loop with its progress reports: the whole of a small
    run, or the first moments of a big one until worker processes take it over."""

    def __init__(self, spec: LoadSpec, on_progress: Callable[[ProgressDelta], None] | None,
                 progress_interval: float, details: Details | None, *,
                 connections: int | None = None, part: WorkerShare | None = None,
                 start_ns: int = 0) -> None:
        share = part or WorkerShare(concurrency=connections or spec.concurrency, rate=spec.rate,
                                    requests=spec.total_requests)  # fmt: skip
        self.engine = new_engine(spec, share)
        self._start_ns = start_ns  # a replica's share: the instant the replicas agreed on
        self.total = LoadResult(target_rate=spec.rate)
        self._on_progress = on_progress
        self._details = details
        loop = asyncio.get_running_loop()
        self._reporter = loop.create_task(self._report(progress_interval))
        self._runner = loop.create_task(self._run())

    async def _run(self) -> None:
        await self.engine.prepare()  # one lookup and the connections: on a LAN, a millisecond
        await self.engine.run(max(self._start_ns, time.monotonic_ns()))

    async def _report(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self._collect()

    def _collect(self) -> None:
        delta, seen = self.engine.take_all()
        self.total.merge(delta)
        if self._details is not None:
            self._details.merge(seen)
        if self._on_progress is not None:
            self._on_progress(ProgressDelta(worker=-1, elapsed=delta.elapsed, delta=delta))

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when this part of the run has sent all it will."""
        self._runner.add_done_callback(lambda _: callback())

    @property
    def started_ns(self) -> int:
        """When the first request was due (0: still connecting)."""
        return self.engine.start_ns

    def stop(self, at_ns: int = 0) -> int:
        """Send nothing due from ``at_ns`` (default now); returns the requests claimed."""
        if not self.engine.start_ns:  # still connecting: never start
            self._runner.cancel()
            return 0
        return self.engine.stop(at_ns)

    async def finished(self) -> LoadResult:
        """Wait for the in-flight requests; the run's result."""
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        finally:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self.engine.shutdown()  # a run stopped while connecting never ran to close them
        self._collect()
        return self.total


async def run_local(
    spec: LoadSpec,
    on_progress: Callable[[ProgressDelta], None] | None = None,
    *,
    progress_interval: float = 1.0,
    stop: asyncio.Event | None = None,
    details: Details | None = None,
    part: WorkerShare | None = None,
    start_ns: int = 0,
) -> LoadResult:
    """Run ``spec`` (or a replica's ``part`` of it, from ``start_ns``) on the running event
    loop; ``stop`` ends it early with what was sent."""
    if stop is not None and stop.is_set():
        return LoadResult(target_rate=spec.rate)
    run = LocalRun(spec, on_progress, progress_interval, details, part=part, start_ns=start_ns)
    watcher = None
    if stop is not None:
        watcher = asyncio.get_running_loop().create_task(_stop_on(stop, run))
    try:
        return await run.finished()
    finally:
        if watcher is not None:
            watcher.cancel()


async def _stop_on(stop: asyncio.Event, run: LocalRun) -> None:
    await stop.wait()
    run.stop()
