"""run_process: own process group, deadline ending the whole group, bounded output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from loadtester.tasks.process import OUTPUT_CAP, TailBuffer, run_process
from tests.support.processes import alive, group_members, wait_for_file, wait_gone


async def test_exit_zero_and_output() -> None:
    """A successful command reports exit code 0 and its stdout and stderr together."""
    result = await run_process(["sh", "-c", "echo out; echo err >&2"], timeout=10, kill_grace=1)
    assert result.ok
    assert result.returncode == 0
    assert result.output == "out\nerr\n"
    assert not result.truncated and not result.timed_out


async def test_exit_status_text() -> None:
    """A failing command reports Go's `exit status <n>`."""
    result = await run_process(["sh", "-c", "exit 7"], timeout=10, kill_grace=1)
    assert not result.ok
    assert result.returncode == 7
    assert result.status_text() == "exit status 7"


async def test_signal_status_text() -> None:
    """A command ended by a signal reports Go's `signal: <name>`."""
    result = await run_process(["sh", "-c", "kill -TERM $$"], timeout=10, kill_grace=1)
    assert result.returncode == -signal.SIGTERM
    assert result.status_text() == "signal: terminated"


async def test_missing_executable() -> None:
    """An executable that does not exist is a start error, not an exception."""
    result = await run_process(["/nonexistent/tool", "x"], timeout=10, kill_grace=1)
    assert not result.ok
    assert result.returncode is None
    assert result.status_text() == "fork/exec /nonexistent/tool: no such file or directory"


async def test_missing_executable_in_path() -> None:
    """A bare name not in PATH reads as Go's exec.LookPath error."""
    result = await run_process(["no-such-tool-here", "x"], timeout=10, kill_grace=1)
    assert result.status_text() == 'exec: "no-such-tool-here": executable file not found in $PATH'


async def test_own_process_group(tmp_path: Path) -> None:
    """The child leads its own process group, apart from the service's."""
    out = tmp_path / "ids"
    result = await run_process(
        ["sh", "-c", f"echo $$ $(ps -o pgid= -p $$) > {out}"], timeout=10, kill_grace=1
    )
    assert result.ok
    pid, pgid = (int(word) for word in out.read_text().split())
    assert pid == pgid
    assert pgid != os.getpgrp()


@pytest.mark.system
async def test_timeout_kills_whole_group(tmp_path: Path) -> None:
    """On the deadline the leader and a grandchild it spawned are both ended."""
    pids = tmp_path / "pids"
    started = time.monotonic()
    result = await run_process(
        ["sh", "-c", f"sleep 300 & echo $$ $! > {pids}; wait"], timeout=1, kill_grace=1
    )
    assert result.timed_out
    assert not result.ok
    assert time.monotonic() - started < 10
    assert result.status_text() == "signal: killed"
    assert result.describe().startswith("timed out after")
    leader, grandchild = (int(word) for word in pids.read_text().split())
    assert await wait_gone([leader, grandchild]) == []
    assert group_members(leader) == []


@pytest.mark.system
async def test_timeout_escalates_to_sigkill(tmp_path: Path) -> None:
    """A group that ignores SIGTERM is killed after the grace."""
    pids = tmp_path / "pids"
    script = f"trap '' TERM; sh -c 'trap \"\" TERM; sleep 300' & echo $$ $! > {pids}; wait"
    started = time.monotonic()
    result = await run_process(["sh", "-c", script], timeout=0.5, kill_grace=0.5)
    assert result.timed_out
    assert time.monotonic() - started < 10
    leader, grandchild = (int(word) for word in pids.read_text().split())
    assert await wait_gone([leader, grandchild]) == []


async def test_leftover_children_killed_after_leader_exits(tmp_path: Path) -> None:
    """Children a command leaves behind when it exits do not outlive the run."""
    pids = tmp_path / "pids"
    result = await run_process(
        ["sh", "-c", f"sleep 300 & echo $! > {pids}"], timeout=10, kill_grace=1
    )
    assert result.ok
    assert await wait_gone([int(pids.read_text())]) == []


async def test_cancel_ends_group(tmp_path: Path) -> None:
    """Cancelling the caller ends the process group before the cancellation goes on."""
    pids = tmp_path / "pids"
    run = asyncio.ensure_future(
        run_process(
            ["sh", "-c", f"sleep 300 & echo $$ $! > {pids}; wait"], timeout=60, kill_grace=1
        )
    )
    text = await wait_for_file(pids)
    run.cancel()
    try:
        await run
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the run was not cancelled")
    assert await wait_gone([int(word) for word in text.split()]) == []


async def test_output_cap_keeps_tail() -> None:
    """Output past 64 KiB keeps only its last 64 KiB."""
    script = "echo FIRST-LINE; head -c 300000 /dev/zero | tr '\\0' x; echo; echo LAST-LINE"
    result = await run_process(["sh", "-c", script], timeout=30, kill_grace=1)
    assert result.ok
    assert result.truncated
    assert len(result.output.encode()) == OUTPUT_CAP
    assert "FIRST-LINE" not in result.output
    assert result.output.endswith("x\nLAST-LINE\n")


async def test_output_cap_configurable() -> None:
    """A smaller cap keeps exactly that many trailing bytes."""
    result = await run_process(
        ["sh", "-c", "printf 0123456789"], timeout=10, kill_grace=1, output_cap=4
    )
    assert result.output == "6789"
    assert result.truncated


def test_tail_buffer_under_cap() -> None:
    """Output under the cap is kept whole and not marked truncated."""
    tail = TailBuffer(10)
    tail.write(b"abc")
    tail.write(b"def")
    assert tail.text() == "abcdef"
    assert not tail.truncated
    tail.write(b"ghijkl")
    assert tail.text() == "cdefghijkl"
    assert tail.truncated


def processes_with_env(marker: str) -> list[int]:
    """Live processes whose environment holds LT_TEST_MARKER=marker."""
    found = []
    needle = f"LT_TEST_MARKER={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0") and alive(int(entry.name)):
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


async def test_cancel_while_starting_leaves_no_orphan() -> None:
    """Cancelled at any point of its start, a run leaves no process of its group behind."""
    marker = f"{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "LT_TEST_MARKER": marker}
    for turns in range(12):
        run = asyncio.ensure_future(
            run_process(
                ["sh", "-c", "sleep 300 & sleep 301 & wait"], timeout=60, kill_grace=1, env=env
            )
        )
        for _ in range(turns):
            await asyncio.sleep(0)
        if turns >= 8:
            await asyncio.sleep(0.01 * (turns - 7))
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    deadline = time.monotonic() + 5
    while processes_with_env(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_with_env(marker) == []
