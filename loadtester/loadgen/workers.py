"""A LoadSpec split across worker processes, with progress deltas and a merged result.

Workers are started with the "spawn" context, so this is safe inside an asyncio service.
They die with the parent (PR_SET_PDEATHSIG and end-of-pipe), and cancelling :func:`run_load`
terminates them (SIGTERM, then SIGKILL after a short grace).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from loadtester.loadgen.details import Details
from loadtester.loadgen.engine import WorkerShare
from loadtester.loadgen.histogram import Histogram
from loadtester.loadgen.result import LoadResult
from loadtester.loadgen.spec import LoadSpec, LoadSpecError

__all__ = ["LoadGenError", "ProgressDelta", "plan_shares", "run_load", "run_load_sync"]

_READY_TIMEOUT = 30.0
_START_MARGIN_NS = 30_000_000
_KILL_GRACE = 1.0
_STOPPED = -1  # the inbox "worker" that says stop was set or the local part ended


class LoadGenError(RuntimeError):
    """A worker process failed."""


@dataclass(frozen=True)
class ProgressDelta:
    """What one worker saw since its previous snapshot."""

    worker: int
    elapsed: float  # seconds since the common start
    delta: LoadResult

    @property
    def status_counts(self) -> dict[int, int]:
        """Responses by status code in this interval."""
        return self.delta.status_counts

    @property
    def errors(self) -> dict[str, int]:
        """Transport errors by kind in this interval."""
        return self.delta.errors

    @property
    def histogram(self) -> Histogram:
        """Latencies recorded in this interval."""
        return self.delta.histogram


def plan_shares(spec: LoadSpec, workers: int) -> list[WorkerShare]:
    """Split concurrency, rate and request count over at most ``workers`` processes."""
    n = max(1, min(workers, spec.concurrency))
    total = spec.total_requests
    if total is not None:
        n = min(n, total)
    shares = []
    for k in range(n):
        conc = spec.concurrency // n + (1 if k < spec.concurrency % n else 0)
        reqs = None if total is None else total // n + (1 if k < total % n else 0)
        rate = spec.rate / n
        # interleave the schedules: worker k's requests fall between the others'
        offset = k / spec.rate if spec.rate > 0 else 0.0
        shares.append(WorkerShare(concurrency=conc, rate=rate, requests=reqs, offset=offset,
                                  index=k, workers=n))
    return shares


async def run_load(
    spec: LoadSpec,
    workers: int | None = None,
    on_progress: Callable[[ProgressDelta], None] | None = None,
    *,
    progress_interval: float = 1.0,
    stop: asyncio.Event | None = None,
    details: Details | None = None,
    hand_over: bool = False,
) -> LoadResult:
    """Run ``spec`` in ``workers`` processes (default: one per CPU) and merge the results.

    ``on_progress`` gets each worker's per-interval delta as it arrives. Setting ``stop``
    ends the run early but gracefully (in-flight requests finish, the result is returned).
    ``details``, when given, receives the workers' phase timings and response sizes.
    ``hand_over`` starts sending in this process at once and hands the rest of the run (same
    schedule and deadline) to the workers when they are ready, so the first request does not
    wait for them (the CLI; the service keeps its event loop free and waits).
    Cancelling this coroutine terminates the workers before the CancelledError propagates.
    """
    shares = plan_shares(spec, workers or os.cpu_count() or 1)
    loop = asyncio.get_running_loop()
    ctx = multiprocessing.get_context("spawn")
    inbox: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    procs: list[BaseProcess] = []
    pipes: list[Connection] = []
    helpers: list[asyncio.Task[None]] = []
    local = None

    def reader(k: int, pipe: Connection) -> None:
        try:
            while pipe.poll():
                inbox.put_nowait((k, pipe.recv()))
        except (EOFError, OSError):
            loop.remove_reader(pipe.fileno())
            inbox.put_nowait((k, ("eof",)))

    try:
        if hand_over:
            from loadtester.loadgen.local import LOCAL_MAX_CONNECTIONS, LocalRun

            # more connections would only delay the first request; the workers open their own
            local = LocalRun(spec, on_progress, progress_interval, details,
                             connections=min(spec.concurrency, LOCAL_MAX_CONNECTIONS))
            local.when_done(lambda: inbox.put_nowait((_STOPPED, ("done",))))
        if stop is not None:
            helpers.append(loop.create_task(_forward_stop(stop, pipes, inbox)))
        for k, share in enumerate(shares):
            parent_end, child_end = ctx.Pipe(duplex=True)
            proc = ctx.Process(
                target=_worker_entry,
                args=(child_end, spec, share, progress_interval, os.getpid()),
                name=f"loadgen-{k}",
                daemon=True,
            )
            proc.start()
            child_end.close()
            procs.append(proc)
            pipes.append(parent_end)
            loop.add_reader(parent_end.fileno(), reader, k, parent_end)
            # uvloop's add_reader makes the pipe non-blocking, and a message bigger than the
            # pipe's buffer (a scenario's per-request histograms) would then fail half-read
            os.set_blocking(parent_end.fileno(), True)
        ready = 0
        async with asyncio.timeout(_READY_TIMEOUT):
            while ready < len(shares):
                k, msg = await inbox.get()
                if k == _STOPPED:  # stopped, or all sent here, while the workers started
                    if local is None:
                        return LoadResult(target_rate=spec.rate)
                    local.stop()
                    result, local = await local.finished(), None
                    return result
                ready += _check_ready(k, msg)
        start_ns = resume_ns = time.monotonic_ns() + _START_MARGIN_NS
        counts: list[int | None] = [share.requests for share in shares]
        claimed = 0
        if local is not None:
            claimed = local.stop(resume_ns)  # a timed run goes on here until the workers start
            start_ns = local.started_ns or resume_ns
            if spec.total_requests is not None and spec.duration is None:
                counts = _split(spec.total_requests - claimed, len(shares))
        for pipe, count in zip(pipes, counts, strict=True):
            pipe.send(("start", start_ns, resume_ns, count, claimed))
        total = LoadResult(target_rate=spec.rate)
        finished: set[int] = set()
        while len(finished) < len(shares):
            k, msg = await inbox.get()
            kind = msg[0]
            if k in finished or k == _STOPPED:
                continue
            if kind in ("progress", "done"):
                delta = LoadResult.from_wire(msg[1])
                total.merge(delta)
                if details is not None and len(msg) > 2:
                    details.merge(Details.from_wire(msg[2]))
                if on_progress is not None:
                    on_progress(ProgressDelta(worker=k, elapsed=delta.elapsed, delta=delta))
                if kind == "done":
                    finished.add(k)
            elif kind == "error":
                raise LoadSpecError(msg[1]) if msg[2] == "spec" else LoadGenError(msg[1])
            else:
                raise LoadGenError(f"load worker {k} exited unexpectedly")
        if local is not None:
            total.merge(await local.finished())
            local = None
        total.target_rate = spec.rate
        return total
    finally:
        for helper in helpers:
            helper.cancel()
        if local is not None:  # an error or a cancel: stop sending here too
            local.stop()
            with contextlib.suppress(Exception):
                await local.finished()
        for pipe in pipes:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(pipe.fileno())
        await _stop_processes(procs)
        for pipe in pipes:
            pipe.close()


def _split(total: int, parts: int) -> list[int | None]:
    """``total`` requests over ``parts`` workers, as plan_shares splits them."""
    total = max(total, 0)
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


async def _forward_stop(stop: asyncio.Event, pipes: list[Connection],
                        inbox: asyncio.Queue[tuple[int, Any]]) -> None:
    await stop.wait()
    inbox.put_nowait((_STOPPED, ("stop",)))
    for pipe in pipes:
        with contextlib.suppress(OSError, ValueError):
            pipe.send(("stop",))


def _check_ready(k: int, msg: tuple[Any, ...]) -> int:
    if msg[0] == "ready":
        return 1
    if msg[0] == "error":
        raise LoadSpecError(msg[1]) if msg[2] == "spec" else LoadGenError(msg[1])
    raise LoadGenError(f"load worker {k} exited before it was ready")


async def _stop_processes(procs: list[BaseProcess]) -> None:
    """Terminate live workers, SIGKILL them after a grace period, reap all."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + _KILL_GRACE
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=1.0)
        proc.close()


def run_load_sync(
    spec: LoadSpec,
    workers: int | None = None,
    on_progress: Callable[[ProgressDelta], None] | None = None,
    *,
    progress_interval: float = 1.0,
) -> LoadResult:
    """Blocking :func:`run_load` for the CLI and scripts."""
    from loadtester.loadgen.worker import new_event_loop

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_load(spec, workers, on_progress, progress_interval=progress_interval))


def _worker_entry(
    pipe: Connection, spec: LoadSpec, share: WorkerShare, interval: float, parent: int
) -> None:
    from loadtester.loadgen.worker import worker_main

    worker_main(pipe, spec, share, interval, parent)
