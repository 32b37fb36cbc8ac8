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
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from loadtester.loadgen.errors import LoadGenError, LoadSpecError
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.details import Details
from loadtester.loadgen.results.messages import (
    FromWorker,
    PipeClosed,
    ProgressDelta,
    Ready,
    Start,
    Stop,
    WorkerDelta,
    WorkerFailed,
)
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.shares import WorkerShare, plan_shares, split_requests
from loadtester.loadgen.running.sizing import size_workers

__all__ = ["run_load", "run_load_sync"]

_READY_TIMEOUT = 30.0
_START_MARGIN_NS = 30_000_000
_KILL_GRACE = 1.0
_STOPPED = -1  # the inbox "worker" that says stop was set or the local part ended
_Inbox = asyncio.Queue[tuple[int, FromWorker | Stop]]


async def run_load(
    spec: LoadSpec,
    workers: int | None = None,
    on_progress: Callable[[ProgressDelta], None] | None = None,
    *,
    progress_interval: float = 1.0,
    stop: asyncio.Event | None = None,
    details: Details | None = None,
    hand_over: bool = False,
    part: WorkerShare | None = None,
    start_ns: int = 0,
) -> LoadResult:
    """Run ``spec`` in ``workers`` processes and merge the results; ``workers`` 0 runs it in
    this process. By default, as many as the run needs (running/sizing.py: its rate and
    connections, within the CPUs and the cgroup's limits).

    ``on_progress`` gets each worker's per-interval delta as it arrives. Setting ``stop``
    ends the run early but gracefully (in-flight requests finish, the result is returned).
    ``details``, when given, receives the workers' phase timings and response sizes.
    ``hand_over`` starts sending in this process at once and hands the rest of the run (same
    schedule and deadline) to the workers when they are ready, so the first request does not
    wait for them (the CLI; the service keeps its event loop free and waits).
    ``part`` (a run spread over replicas) runs only this replica's share of ``spec``, from
    ``start_ns`` (monotonic ns: the instant the replicas agreed on) or as soon as ready.
    Cancelling this coroutine terminates the workers before the CancelledError propagates.
    """
    if workers is None:
        workers = size_workers(spec).workers
    if workers == 0:
        return await _in_this_process(spec, on_progress, progress_interval, stop, details,
                                      part, start_ns)
    shares = plan_shares(spec, workers, part)
    loop = asyncio.get_running_loop()
    ctx = multiprocessing.get_context("spawn")
    inbox: _Inbox = asyncio.Queue()
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
            inbox.put_nowait((k, PipeClosed()))

    try:
        if hand_over:
            from loadtester.loadgen.running.local import LOCAL_MAX_CONNECTIONS, LocalRun

            # more connections would only delay the first request; the workers open their own
            local = LocalRun(spec, on_progress, progress_interval, details,
                             connections=min(spec.concurrency, LOCAL_MAX_CONNECTIONS))
            local.when_done(lambda: inbox.put_nowait((_STOPPED, Stop())))
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
        start_ns = resume_ns = max(start_ns, time.monotonic_ns() + _START_MARGIN_NS)
        counts: list[int | None] = [share.requests for share in shares]
        claimed = 0
        if local is not None:
            claimed = local.stop(resume_ns)  # a timed run goes on here until the workers start
            start_ns = local.started_ns or resume_ns
            if spec.total_requests is not None and spec.duration is None:
                counts = split_requests(spec.total_requests - claimed, len(shares))
        for pipe, count in zip(pipes, counts, strict=True):
            pipe.send(Start(start_ns, resume_ns, count, claimed))
        total = LoadResult(target_rate=spec.rate)
        finished: set[int] = set()
        while len(finished) < len(shares):
            k, msg = await inbox.get()
            if k in finished or k == _STOPPED:
                continue
            if isinstance(msg, WorkerDelta):
                delta = LoadResult.from_wire(msg.result)
                total.merge(delta)
                if details is not None:
                    details.merge(Details.from_wire(msg.details))
                if on_progress is not None:
                    on_progress(ProgressDelta(worker=k, elapsed=delta.elapsed, delta=delta))
                if msg.done:
                    finished.add(k)
            elif isinstance(msg, WorkerFailed):
                raise _failure(msg)
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


async def _in_this_process(
    spec: LoadSpec,
    on_progress: Callable[[ProgressDelta], None] | None,
    progress_interval: float,
    stop: asyncio.Event | None,
    details: Details | None,
    part: WorkerShare | None = None,
    start_ns: int = 0,
) -> LoadResult:
    """The whole run (or ``part`` of it) on this event loop; cancelling it closes the
    connections and cancels."""
    from loadtester.loadgen.running.local import run_local

    run = asyncio.ensure_future(run_local(spec, on_progress, progress_interval=progress_interval,
                                          stop=stop, details=details, part=part,
                                          start_ns=start_ns))
    try:
        return await asyncio.shield(run)
    except asyncio.CancelledError:
        run.cancel()  # run_local ends its run and returns what was sent: cancel here still
        with contextlib.suppress(asyncio.CancelledError):
            await run
        raise


async def _forward_stop(stop: asyncio.Event, pipes: list[Connection], inbox: _Inbox) -> None:
    await stop.wait()
    inbox.put_nowait((_STOPPED, Stop()))
    for pipe in pipes:
        with contextlib.suppress(OSError, ValueError):
            pipe.send(Stop())


def _check_ready(k: int, msg: FromWorker | Stop) -> int:
    if isinstance(msg, Ready):
        return 1
    if isinstance(msg, WorkerFailed):
        raise _failure(msg)
    raise LoadGenError(f"load worker {k} exited before it was ready")


def _failure(msg: WorkerFailed) -> LoadSpecError | LoadGenError:
    """The error a worker's failure raises here."""
    return LoadSpecError(msg.message) if msg.bad_spec else LoadGenError(msg.message)


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
    from loadtester.loadgen.running.worker import new_event_loop

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_load(spec, workers, on_progress, progress_interval=progress_interval))


def _worker_entry(
    pipe: Connection, spec: LoadSpec, share: WorkerShare, interval: float, parent: int
) -> None:
    from loadtester.loadgen.running.worker import worker_main

    worker_main(pipe, spec, share, interval, parent)
