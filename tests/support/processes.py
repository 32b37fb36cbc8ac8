"""Processes seen through /proc: alive (not a zombie), members of a process group, children,
waits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """True while pid names a process that is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is pgid."""
    return [pid for pid, fields in _live_stats() if int(fields[2]) == pgid]


def children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is pid."""
    return [child for child, fields in _live_stats() if int(fields[1]) == pid]


def _live_stats() -> list[tuple[int, list[str]]]:
    """Each live (non-zombie) process with the fields of /proc/PID/stat after its name."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] != "Z":
            found.append((int(entry.name), fields))
    return found


async def wait_gone(pids: list[int], within: float = 5.0) -> list[int]:
    """Wait until none of pids is alive; return those still alive after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return []
        await asyncio.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


async def wait_for_file(path: Path, within: float = 5.0) -> str:
    """The content of path once it has a complete first line."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text()
            if text.endswith("\n"):
                return text
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} was not written within {within}s")
