"""Child processes that are owned: own process group, deadline, bounded captured output."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadtester.durations import format_duration
from loadtester.flags import ENV_PREFIX, FLAGS

OUTPUT_CAP = 64 * 1024
_DRAIN_AFTER_EXIT = 1.0


@dataclass(frozen=True)
class ProcessResult:
    """How a child process ended and the tail of what it printed."""

    returncode: int | None
    output: str
    truncated: bool
    timed_out: bool
    duration: float
    start_error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.start_error

    def status_text(self) -> str:
        """Why it failed, in the words of Go's exec package (what the Go service answers)."""
        if self.start_error:
            return self.start_error
        if self.timed_out:
            return "signal: killed"  # Go's CommandContext kills on the deadline
        if self.returncode is not None and self.returncode < 0:
            return f"signal: {go_signal_name(-self.returncode)}"
        return f"exit status {self.returncode}"

    def describe(self) -> str:
        """status_text(), saying first when the -timeout ended it (for our own reasons)."""
        if self.timed_out:
            return f"timed out after {format_duration(self.duration)}: {self.status_text()}"
        return self.status_text()


def go_signal_name(number: int) -> str:
    """A signal as Go's syscall.Signal prints it: `killed`, `terminated`, `interrupt`."""
    name = signal.strsignal(number) if number in signal.valid_signals() else None
    return name.lower() if name and not name.startswith("Unknown") else f"signal {number}"


def start_error_text(program: str, error: OSError) -> str:
    """A failed start as Go's exec package words it (a bare name is looked up in PATH)."""
    if "/" not in program and isinstance(error, FileNotFoundError | PermissionError):
        return f'exec: "{program}": executable file not found in $PATH'
    reason = (error.strerror or str(error)).lower()
    return f"fork/exec {program}: {reason}"


class TailBuffer:
    """Keeps the last `cap` bytes written to it."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._data = bytearray()
        self.truncated = False

    def write(self, chunk: bytes) -> None:
        self._data += chunk
        overflow = len(self._data) - self._cap
        if overflow > 0:
            del self._data[:overflow]
            self.truncated = True

    def text(self) -> str:
        return self._data.decode("utf-8", errors="replace")


async def _drain(stream: asyncio.StreamReader, tail: TailBuffer) -> None:
    while chunk := await stream.read(65536):
        tail.write(chunk)


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def _end_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the whole group, wait `grace`, then SIGKILL whatever is left."""
    pgid = process.pid
    if process.returncode is None and _signal_group(pgid, signal.SIGTERM):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace)
    _signal_group(pgid, signal.SIGKILL)
    await process.wait()


async def _end_when_started(
    spawn: asyncio.Future[asyncio.subprocess.Process], grace: float
) -> None:
    try:
        process = await spawn
    except Exception:
        return
    await _end_group(process, grace)


def _service_variables() -> frozenset[str]:
    """Variables that hold the service's secrets or name the files it reads them from."""
    return frozenset(name for flag in FLAGS if flag.secret
                     for name in (flag.env, flag.env + "_FILE"))


@functools.cache
def child_environment() -> dict[str, str]:
    """The service's environment minus its own configuration, computed once.

    Users reference their own variables in commands (`-H "Authorization: Bearer $API_TOKEN"`),
    so everything else passes through.
    """
    hidden = _service_variables()
    return {name: value for name, value in os.environ.items()
            if not name.startswith(ENV_PREFIX) and name not in hidden}


_SPAWN_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def _spawn(argv: Sequence[str], **options: Any) -> asyncio.subprocess.Process:
    """Start a process, one at a time: a fork and exec blocks the event loop for 1-2 ms, so
    200 checks started at once would stall every other request (/healthz) for 0.3 s or more;
    one spawn per loop iteration lets the others through between them."""
    loop = asyncio.get_running_loop()
    lock = _SPAWN_LOCKS.get(loop)
    if lock is None:
        lock = _SPAWN_LOCKS[loop] = asyncio.Lock()
    async with lock:
        return await asyncio.create_subprocess_exec(*argv, **options)


async def run_process(
    argv: Sequence[str],
    *,
    timeout: float,
    kill_grace: float,
    output_cap: int = OUTPUT_CAP,
    env: dict[str, str] | None = None,
) -> ProcessResult:
    """Run argv in its own process group, capture stdout+stderr, end the group on deadline.

    Without `env` the child gets child_environment(), never the service's own secrets.
    Cancelling the caller ends the group the same way before the cancellation goes on.
    """
    started = time.monotonic()
    # our own pipe, not asyncio's PIPE: with asyncio's, process.wait() also waits for the pipe
    # to close, so a child the command left behind would hold the run open until the deadline
    read_fd, write_fd = os.pipe()
    spawn = asyncio.ensure_future(
        _spawn(
            argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            start_new_session=True,
            env=child_environment() if env is None else env,
        )
    )
    try:
        process = await asyncio.shield(spawn)
    except OSError as exc:
        os.close(read_fd)
        reason = start_error_text(argv[0], exc)
        return ProcessResult(None, "", False, False, 0.0, start_error=reason)
    except asyncio.CancelledError:
        # cancelled while starting: asyncio would kill only the leader, not what it started
        await asyncio.shield(_end_when_started(spawn, kill_grace))
        os.close(read_fd)
        raise
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb", buffering=0)
    stream = asyncio.StreamReader(limit=output_cap)
    tail = TailBuffer(output_cap)
    transport: asyncio.ReadTransport | None = None
    reader: asyncio.Future[None] | None = None
    timed_out = False
    try:
        try:
            # inside the try: a cancellation from here on must still end the group
            transport, _ = await asyncio.get_running_loop().connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(stream), pipe
            )
            reader = asyncio.ensure_future(_drain(stream, tail))
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            timed_out = True
            await _end_group(process, kill_grace)
        except asyncio.CancelledError:
            await asyncio.shield(_end_group(process, kill_grace))
            if reader is not None:
                reader.cancel()
            raise
        # the leader is gone; children it left behind hold the pipe open and would orphan
        _signal_group(process.pid, signal.SIGKILL)
        assert reader is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, _DRAIN_AFTER_EXIT)
    finally:
        if transport is not None:
            transport.close()
        else:
            pipe.close()
    return ProcessResult(
        returncode=process.returncode,
        output=tail.text(),
        truncated=tail.truncated,
        timed_out=timed_out,
        duration=time.monotonic() - started,
    )
