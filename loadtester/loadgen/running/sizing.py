"""How many worker processes a run gets: as many as its work needs (its peak rate, its
connections), never more than the process may use (-load-workers or the CPUs, the cgroup's CPU
limit, the room left under its memory limit). Zero: the calling process runs it alone."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from loadtester.loadgen.input.spec import LoadSpec

__all__ = ["CGROUP_ROOT", "IN_PROCESS_RATE", "Limits", "Sizing", "read_limits", "size_workers"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
MIB = 1024 * 1024

# Requests/s one worker process keeps up with, with room to spare. Measured 2026-12-05 on a
# 2-core machine (nginx `return 200` on the same cores, one worker, -c 50, 3 s runs): plain
# HTTP 37k-97k req/s at 0.95-1.27 CPU s per 100k requests, TLS 12k-16k req/s at 4.6 CPU s.
PER_WORKER_RATE = 20_000.0
PER_WORKER_RATE_TLS = 8_000.0
# A run up to this peak rate, over at most IN_PROCESS_CONNECTIONS, costs the calling process a
# few per cent of a core (the CPU per request above): it runs there. A worker process would add
# its start-up and 26-31 MiB, plus 13 MiB for multiprocessing's resource tracker.
IN_PROCESS_RATE = 1_000.0
IN_PROCESS_CONNECTIONS = 500
# RSS of a worker process, measured with ps on 2026-12-05: 26 MiB (plain, -c 20, 50 req/s),
# 28 MiB (plain, -c 256, full speed), 31 MiB (TLS, -c 50, full speed); 40 MiB leaves room for
# large responses and a scenario's per-request histograms.
WORKER_RSS = 40 * MIB
# Kept free under a memory limit: the calling process's own growth during the run and the
# resource tracker (13 MiB) that the first worker starts.
MEMORY_MARGIN = 64 * MIB
_NO_LIMIT = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63


@dataclass(frozen=True)
class Limits:
    """What this process may use: CPUs (affinity and cgroup quota, at least 1), why that many,
    and the bytes left under the tightest cgroup memory limit (None: no limit)."""

    cpus: int
    cpu_reason: str
    memory_room: int | None = None


@dataclass(frozen=True)
class Sizing:
    """Worker processes for a run (0: the calling process runs it) and why that many."""

    workers: int
    reason: str

    def __str__(self) -> str:
        return f"workers={self.workers} ({self.reason})"


def size_workers(spec: LoadSpec, configured: int | None = None,
                 limits: Limits | None = None) -> Sizing:
    """Worker processes for ``spec``: a rate-limited run gets what its peak rate needs (none
    up to IN_PROCESS_RATE), a full-speed run the ceiling, never more than its connections. The
    ceiling is ``configured`` (-load-workers) or the CPUs, within the cgroup's CPU limit and
    the room under its memory limit (read from /sys/fs/cgroup unless ``limits`` is given)."""
    limits = read_limits() if limits is None else limits
    ceiling, capped_by = limits.cpus, limits.cpu_reason
    if configured is not None and configured < ceiling:
        ceiling, capped_by = max(configured, 1), f"-load-workers {configured}"
    if limits.memory_room is not None:
        room = max(0, limits.memory_room - MEMORY_MARGIN) // WORKER_RSS
        if room < ceiling:
            ceiling, capped_by = room, f"memory limit: room for {room}"
    targets = 2 if spec.compare is not None else 1  # a compare run sends each request twice
    peak = targets * max(spec.rate, spec.stages.peak if spec.stages is not None else 0.0)
    if (peak > 0 and peak <= IN_PROCESS_RATE
            and targets * spec.concurrency <= IN_PROCESS_CONNECTIONS):
        if not _matches_bodies(spec):
            return Sizing(0, f"rate {peak:g}/s, in this process")
        if ceiling > 0:  # a caller's regular expression never runs on the caller's loop
            return Sizing(1, f"rate {peak:g}/s, body checks in a worker")
    if ceiling == 0:
        return Sizing(0, f"{capped_by}, in this process")
    if peak > 0:
        per_worker = PER_WORKER_RATE_TLS if spec.is_https else PER_WORKER_RATE
        need, why = math.ceil(peak / per_worker), f"rate {peak:g}/s"
    else:
        need, why = ceiling, f"full speed, {capped_by}"
    if spec.concurrency < need:
        need, why = spec.concurrency, f"{spec.concurrency} connection" + (
            "s" if spec.concurrency > 1 else "")
    if need > ceiling:
        return Sizing(ceiling, f"{why}, capped by {capped_by}")
    return Sizing(need, why)


def _matches_bodies(spec: LoadSpec) -> bool:
    """Whether the run matches answers' bodies against a scenario's regular expressions."""
    return spec.mix is not None and any(r.body is not None for r in spec.mix.requests)


def read_limits(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> Limits:
    """This process's CPUs and memory room: its affinity, and the limits of its cgroup and
    the cgroup's ancestors under ``root`` (v2, or v1's cpu and memory hierarchies), the
    cgroup named by ``proc_cgroup``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = max(cpus or 1, 1)
    limits = Limits(cpus, f"{cpus} CPUs" if cpus > 1 else "1 CPU")
    paths = _own_paths(proc_cgroup)
    cpu_files: tuple[str, ...]
    if (root / "cgroup.controllers").is_file():  # v2: one hierarchy
        cpu_dirs = memory_dirs = _chain(root, paths.get("", "/"))
        cpu_files, memory_files = ("cpu.max",), ("memory.max", "memory.current", "inactive_file")
    else:
        cpu_base = root / "cpu" if (root / "cpu").is_dir() else root / "cpu,cpuacct"
        cpu_dirs = _chain(cpu_base, paths.get("cpu", "/"))
        memory_dirs = _chain(root / "memory", paths.get("memory", "/"))
        cpu_files = ("cpu.cfs_quota_us", "cpu.cfs_period_us")
        memory_files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
    for folder in cpu_dirs:
        quota = _cpu_quota(folder, cpu_files)
        if quota is not None and math.ceil(quota) <= limits.cpus:  # a pod's limit: name it
            limits = Limits(max(1, math.ceil(quota)), f"cgroup CPU limit {quota:g}")
    rooms = [r for r in (_memory_room(d, memory_files) for d in memory_dirs) if r is not None]
    return Limits(limits.cpus, limits.cpu_reason, min(rooms) if rooms else None)


def _own_paths(proc_cgroup: Path) -> dict[str, str]:
    """Controller -> this process's cgroup path (v2's line has the controller "")."""
    paths: dict[str, str] = {}
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _chain(base: Path, own: str) -> list[Path]:
    """The cgroup directory ``own`` under ``base`` and its ancestors, those that exist. In a
    container without a cgroup namespace, ``base`` itself is the container's cgroup."""
    found: list[Path] = []
    folder = base / own.lstrip("/")
    while True:
        if folder.is_dir():
            found.append(folder)
        if folder == base or base not in folder.parents:
            return found
        folder = folder.parent


def _cpu_quota(folder: Path, files: tuple[str, ...]) -> float | None:
    """CPUs a cgroup's quota allows (1.5 for "150000 100000"), None without a quota."""
    try:
        if len(files) == 1:
            quota, period = (folder / files[0]).read_text().split()[:2]
        else:
            quota, period = ((folder / name).read_text().strip() for name in files)
        if quota in ("max", "-1") or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _memory_room(folder: Path, files: tuple[str, ...]) -> int | None:
    """Bytes between a cgroup's memory limit and its working set (usage less the inactive
    page cache the kernel reclaims first, as the kubelet counts it); None without a limit."""
    limit_file, usage_file, inactive_key = files
    try:
        text = (folder / limit_file).read_text().strip()
        if text == "max" or int(text) >= _NO_LIMIT:
            return None
        usage = int((folder / usage_file).read_text().strip())
    except (OSError, ValueError):
        return None
    inactive = 0
    try:
        for line in (folder / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == inactive_key:
                inactive = int(value)
    except (OSError, ValueError):
        pass
    return int(text) - (usage - inactive)
