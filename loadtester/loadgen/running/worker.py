"""Body of one load worker process: run an engine's share, report progress over a pipe
(the messages of results/messages.py)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from typing import TYPE_CHECKING

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.messages import (
    Ready,
    Start,
    Stop,
    ToWorker,
    WorkerDelta,
    WorkerFailed,
)
from loadtester.loadgen.running.factory import new_engine
from loadtester.loadgen.running.shares import WorkerShare

if TYPE_CHECKING:  # the CLI imports new_event_loop: a run in its process needs no multiprocessing
    from multiprocessing.connection import Connection

__all__ = ["new_event_loop", "worker_main"]

_PR_SET_PDEATHSIG = 1


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop event loop when uvloop is installed, else the default one."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies; exit if it is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def worker_main(
    pipe: Connection, spec: LoadSpec, share: WorkerShare, interval: float, parent: int
) -> None:
    """Process entry: connect, say ready, wait for the start time, run, report."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        try:
            runner.run(_serve(pipe, spec, share, interval))
        except LoadSpecError as exc:
            with contextlib.suppress(OSError):
                pipe.send(WorkerFailed(str(exc), bad_spec=True))
        except Exception as exc:
            with contextlib.suppress(OSError):
                pipe.send(WorkerFailed(f"{type(exc).__name__}: {exc}", bad_spec=False))
    pipe.close()


async def _serve(pipe: Connection, spec: LoadSpec, share: WorkerShare, interval: float) -> None:
    loop = asyncio.get_running_loop()
    engine = new_engine(spec, share)
    commands: asyncio.Queue[ToWorker] = asyncio.Queue()

    def on_command() -> None:
        try:
            while pipe.poll():
                commands.put_nowait(pipe.recv())
        except (EOFError, OSError):  # the parent is gone
            loop.remove_reader(pipe.fileno())
            os._exit(1)

    loop.add_reader(pipe.fileno(), on_command)
    await engine.prepare()
    pipe.send(Ready())
    start = await commands.get()
    if not isinstance(start, Start):
        return

    async def watch_commands() -> None:
        while True:
            if isinstance(await commands.get(), Stop):
                engine.stop()

    async def report() -> None:
        while True:
            await asyncio.sleep(interval)
            result, details = engine.take_all()
            pipe.send(WorkerDelta(result.to_wire(), details.to_wire()))

    watcher = loop.create_task(watch_commands())
    reporter = loop.create_task(report())
    try:
        await engine.run(start.start_ns, start.resume_ns, start.requests, start.claimed)
    finally:
        watcher.cancel()
        reporter.cancel()
    result, details = engine.take_all()
    pipe.send(WorkerDelta(result.to_wire(), details.to_wire(), done=True))
