"""Body of one load worker process: run an Engine share, report progress over a pipe."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from multiprocessing.connection import Connection

from loadtester.loadgen.engine import Engine, WorkerShare
from loadtester.loadgen.spec import LoadSpec, LoadSpecError

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
                pipe.send(("error", str(exc), "spec"))
        except Exception as exc:
            with contextlib.suppress(OSError):
                pipe.send(("error", f"{type(exc).__name__}: {exc}", "internal"))
    pipe.close()


async def _serve(pipe: Connection, spec: LoadSpec, share: WorkerShare, interval: float) -> None:
    loop = asyncio.get_running_loop()
    engine = Engine(spec, share)
    commands: asyncio.Queue[tuple[object, ...]] = asyncio.Queue()

    def on_command() -> None:
        try:
            while pipe.poll():
                commands.put_nowait(pipe.recv())
        except (EOFError, OSError):  # the parent is gone
            loop.remove_reader(pipe.fileno())
            os._exit(1)

    loop.add_reader(pipe.fileno(), on_command)
    await engine.prepare()
    pipe.send(("ready",))
    command = await commands.get()
    if command[0] != "start":
        return
    _, start_ns, resume_ns, requests, claimed = command
    assert isinstance(start_ns, int) and isinstance(resume_ns, int) and isinstance(claimed, int)
    assert requests is None or isinstance(requests, int)

    async def watch_commands() -> None:
        while True:
            cmd = await commands.get()
            if cmd[0] == "stop":
                engine.stop()

    async def report() -> None:
        while True:
            await asyncio.sleep(interval)
            result, details = engine.take_all()
            pipe.send(("progress", result.to_wire(), details.to_wire()))

    watcher = loop.create_task(watch_commands())
    reporter = loop.create_task(report())
    try:
        await engine.run(start_ns, resume_ns, requests, claimed)
    finally:
        watcher.cancel()
        reporter.cancel()
    result, details = engine.take_all()
    pipe.send(("done", result.to_wire(), details.to_wire()))
