"""Worker processes sized to the run: its rate, connections and stages, within the CPUs, the
cgroup's CPU limit and the room under its memory limit (fake cgroup trees in tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec, with_stages
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.input.stages import parse_stages
from loadtester.loadgen.running.sizing import (
    MEMORY_MARGIN,
    MIB,
    WORKER_RSS,
    Limits,
    Sizing,
    read_limits,
    size_workers,
)

URL = "http://127.0.0.1:9/"
SIXTEEN = Limits(16, "16 CPUs")  # the node of the issue: 16 cores, no cgroup limit
CPUS = len(os.sched_getaffinity(0))
ALL_CPUS = f"{CPUS} CPUs" if CPUS > 1 else "1 CPU"


def spec(**fields: object) -> LoadSpec:
    """A timed run of URL with ``fields``."""
    return LoadSpec(**{"url": URL, "duration": 60.0, **fields})  # type: ignore[arg-type]


def write(root: Path, files: dict[str, str]) -> Path:
    """A fake cgroup tree under ``root``: each relative path with its content."""
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


def proc_cgroup(tmp_path: Path, text: str) -> Path:
    """A fake /proc/self/cgroup."""
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


def v2(tmp_path: Path, cpu_max: str, memory_max: str, current: int, inactive: int = 0) -> Path:
    """A cgroup v2 root that is the process's own cgroup (a pod with a cgroup namespace)."""
    return write(tmp_path / "cgroup", {
        "cgroup.controllers": "cpu memory pids\n",
        "cpu.max": f"{cpu_max}\n",
        "memory.max": f"{memory_max}\n",
        "memory.current": f"{current}\n",
        "memory.stat": f"anon 1000\ninactive_file {inactive}\nactive_file 0\n",
    })


def test_slow_run_stays_in_the_calling_process() -> None:
    """50 req/s over 20 connections with -load-workers=16 on 16 CPUs: no worker process."""
    assert size_workers(spec(rate=50, concurrency=20), 16, SIXTEEN) == Sizing(
        0, "rate 50/s, in this process")
    assert str(size_workers(spec(rate=1000, concurrency=20), 16, SIXTEEN)) == (
        "workers=0 (rate 1000/s, in this process)")


def test_slow_run_with_body_checks_gets_one_worker() -> None:
    """A slow scenario that matches bodies against its regular expressions runs them in a
    worker process, never on the calling process's loop (the service's)."""
    scenario = parse_scenario(
        "requests: [{url: /, expect: {body: 'ok'}}, {url: /items}]", URL)
    checked = scenario_spec(scenario, spec(rate=50, concurrency=20))
    assert size_workers(checked, 16, SIXTEEN) == Sizing(1, "rate 50/s, body checks in a worker")
    unchecked = scenario_spec(parse_scenario("requests: [{url: /}]", URL), spec(rate=50))
    assert size_workers(unchecked, 16, SIXTEEN).workers == 0


def test_slow_run_over_many_connections_gets_one_worker() -> None:
    """At most 1 000 req/s but more connections than one process keeps: one worker."""
    assert size_workers(spec(rate=800, concurrency=2000), 16, SIXTEEN) == Sizing(1, "rate 800/s")


def test_rate_sets_the_workers() -> None:
    """A rate-limited run gets a worker per 20 000 req/s (8 000 over TLS), within the ceiling."""
    assert size_workers(spec(rate=5000, concurrency=50), 16, SIXTEEN) == Sizing(1, "rate 5000/s")
    assert size_workers(spec(rate=50_000, concurrency=50), 16, SIXTEEN).workers == 3
    tls = spec(url="https://127.0.0.1:9/", rate=50_000, concurrency=50)
    assert size_workers(tls, 16, SIXTEEN).workers == 7
    assert size_workers(spec(rate=1e6, concurrency=500), 4, SIXTEEN) == Sizing(
        4, "rate 1e+06/s, capped by -load-workers 4")


def test_stages_are_sized_by_their_peak() -> None:
    """A ramp to 60 000 req/s needs three workers, however low it starts."""
    ramp = with_stages(LoadSpec(url=URL, concurrency=100),
                       parse_stages("30s:0->100, 1m:100->60000, 30s:60000->0"))
    assert size_workers(ramp, 16, SIXTEEN) == Sizing(3, "rate 60000/s")
    gentle = with_stages(LoadSpec(url=URL, concurrency=10), parse_stages("1m:10->900"))
    assert size_workers(gentle, 16, SIXTEEN).workers == 0


def test_never_more_workers_than_connections() -> None:
    """Each worker needs a connection: -c 3 at full speed is three workers, -c 1 one."""
    assert size_workers(spec(concurrency=3), 16, SIXTEEN) == Sizing(3, "3 connections")
    assert size_workers(spec(concurrency=1), 16, SIXTEEN) == Sizing(1, "1 connection")
    assert size_workers(spec(rate=90_000, concurrency=2), 16, SIXTEEN).workers == 2


def test_full_speed_uses_the_ceiling() -> None:
    """-z or -n without -q: every CPU, or -load-workers if lower."""
    assert size_workers(spec(concurrency=256), None, SIXTEEN) == Sizing(16, "full speed, 16 CPUs")
    assert size_workers(LoadSpec(url=URL, requests=100_000, concurrency=256), 16,
                        SIXTEEN).workers == 16
    assert size_workers(spec(concurrency=256), 2, SIXTEEN) == Sizing(
        2, "full speed, -load-workers 2")
    assert size_workers(spec(concurrency=256), 64, SIXTEEN).workers == 16


def test_cpu_max_caps_the_workers(tmp_path: Path) -> None:
    """cgroup v2 cpu.max "150000 100000" (1.5 CPUs) allows two workers at full speed."""
    root = v2(tmp_path, "150000 100000", "max", 50 * MIB)
    limits = read_limits(root, proc_cgroup(tmp_path, "0::/\n"))
    assert limits.memory_room is None
    if CPUS >= 2:
        assert limits == Limits(2, "cgroup CPU limit 1.5")
        assert size_workers(spec(concurrency=256), 16, limits) == Sizing(
            2, "full speed, cgroup CPU limit 1.5")
    one = read_limits(v2(tmp_path / "one", "50000 100000", "max", 0),
                      proc_cgroup(tmp_path, "0::/\n"))
    assert one == Limits(1, "cgroup CPU limit 0.5")
    unlimited = read_limits(v2(tmp_path / "none", "max 100000", "max", 0),
                            proc_cgroup(tmp_path, "0::/\n"))
    assert unlimited == Limits(CPUS, ALL_CPUS)


def test_memory_max_caps_the_workers(tmp_path: Path) -> None:
    """memory.max less the working set and a margin, over a worker's RSS: that many workers;
    the page cache the kernel reclaims first does not count."""
    limit, used, cache = 512 * MIB, 80 * MIB, 40 * MIB
    root = v2(tmp_path, "max 100000", str(limit), used + cache, inactive=cache)
    limits = read_limits(root, proc_cgroup(tmp_path, "0::/\n"))
    assert limits.memory_room == limit - used
    room = (limit - used - MEMORY_MARGIN) // WORKER_RSS
    assert room == 9
    assert size_workers(spec(concurrency=256), 16, Limits(16, "16 CPUs", limits.memory_room)) == (
        Sizing(9, "full speed, memory limit: room for 9"))
    assert size_workers(spec(rate=500_000, concurrency=256), 16,
                        Limits(16, "16 CPUs", limits.memory_room)).workers == 9


def test_no_room_for_a_worker_runs_in_the_calling_process(tmp_path: Path) -> None:
    """Under a 128 MiB limit with 60 MiB used, a worker would risk the OOM killer: none."""
    root = v2(tmp_path, "max 100000", str(128 * MIB), 60 * MIB)
    limits = read_limits(root, proc_cgroup(tmp_path, "0::/\n"))
    assert size_workers(spec(concurrency=256), 16, limits) == Sizing(
        0, "memory limit: room for 0, in this process")


def test_v2_limits_of_ancestors_apply(tmp_path: Path) -> None:
    """Without a cgroup namespace the process's own cgroup is found through /proc/self/cgroup,
    and a parent's tighter limit wins."""
    root = v2(tmp_path, "max 100000", "max", 0)
    write(root, {"kubepods/pod1/cpu.max": "max 100000\n",
                 "kubepods/pod1/memory.max": f"{300 * MIB}\n",
                 "kubepods/pod1/memory.current": f"{100 * MIB}\n",
                 "kubepods/pod1/app/cpu.max": "100000 100000\n",
                 "kubepods/pod1/app/memory.max": "max\n",
                 "kubepods/pod1/app/memory.current": f"{50 * MIB}\n"})
    limits = read_limits(root, proc_cgroup(tmp_path, "0::/kubepods/pod1/app\n"))
    assert limits == Limits(1, "cgroup CPU limit 1", 200 * MIB)


def test_v1_limits(tmp_path: Path) -> None:
    """cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us, memory.limit_in_bytes less the
    usage (v1 says "no limit" with a number near 2**63)."""
    root = write(tmp_path / "cgroup", {
        "cpu,cpuacct/cpu.cfs_quota_us": "50000\n",
        "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        "memory/memory.limit_in_bytes": "9223372036854771712\n",
        "memory/docker/abc/memory.limit_in_bytes": f"{256 * MIB}\n",
        "memory/docker/abc/memory.usage_in_bytes": f"{70 * MIB}\n",
        "memory/docker/abc/memory.stat": f"cache 0\ntotal_inactive_file {10 * MIB}\n",
    })
    cgroups = proc_cgroup(tmp_path, "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n")
    assert read_limits(root, cgroups) == Limits(1, "cgroup CPU limit 0.5", 196 * MIB)


def test_missing_cgroup_files_mean_no_limit(tmp_path: Path) -> None:
    """No cgroup filesystem (a laptop, macOS): the affinity's CPUs and no memory limit."""
    assert read_limits(tmp_path / "absent", tmp_path / "absent-too") == Limits(CPUS, ALL_CPUS)


@pytest.mark.parametrize("configured", [1, 2])
def test_configured_workers_below_the_cpus(configured: int) -> None:
    """-load-workers lower than the CPUs is the ceiling of a full-speed run."""
    assert size_workers(spec(concurrency=50), configured, SIXTEEN).workers == configured
