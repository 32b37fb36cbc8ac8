#!/usr/bin/env python3
"""Load generator benchmark: built-in engine vs hey vs wrk against a local nginx.

    python bench/bench_load.py            # 10 s per run, 50 connections
    python bench/bench_load.py --quick    # 3 s per run

Starts nginx (Debian nginx-light, ``return 200``) from a temporary directory on 127.0.0.1,
then prints one table: maximum requests/s of `loadtester load` (the built-in engine, one
worker process per CPU), `hey` and `wrk` at the same number of connections, the ratios, CPU
seconds per 100k requests (user + system of each tool's process tree, from
getrusage(RUSAGE_CHILDREN) deltas), achieved/target rate of the built-in engine at fixed rates,
and the p99 of POST /gate/check answered by the service while the built-in generator saturates
the machine, each beside its target (bench/README.md); the exit code is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import REPO, free_port, parse_wrk, start_nginx, stop, wait_port

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.workers import run_load_sync
from loadtester.loadgen.tools.hey import parse_hey_output

GATE_BODY = '{"name":"podinfo","namespace":"test"}'


@dataclass(frozen=True)
class Run:
    """One saturation run of one tool."""

    tool: str
    requests: int
    rate: float
    cpu: float  # user + system seconds of the tool's whole process tree

    @property
    def cpu_per_100k(self) -> float:
        return self.cpu / self.requests * 100_000 if self.requests else float("nan")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(tool: str, argv: list[str], parse: Callable[[str], tuple[int, float]]) -> Run:
    """Run argv to completion; CPU is the RUSAGE_CHILDREN delta (includes its workers)."""
    before = children_cpu()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)
    cpu = children_cpu() - before
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    requests, rate = parse(done.stdout)
    return Run(tool, requests, rate, cpu)


def parse_builtin(out: str) -> tuple[int, float]:
    doc = json.loads(out)
    return int(doc["requests"]), float(doc["rate"])


def parse_hey(out: str) -> tuple[int, float]:
    report = parse_hey_output(out)
    return report.total, report.achieved_rate


def saturate(url: str, seconds: int, connections: int, workers: int | None) -> list[Run]:
    builtin = [sys.executable, "-m", "loadtester.loadgen.cli", "-o", "json"]
    if workers:
        builtin += ["-workers", str(workers)]
    builtin += ["-z", f"{seconds}s", "-c", str(connections), url]
    hey = ["hey", "-z", f"{seconds}s", "-c", str(connections), url]
    threads = str(min(os.cpu_count() or 1, connections))
    wrk = ["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s", url]
    return [
        measured("built-in", builtin, parse_builtin),
        measured("hey", hey, parse_hey),
        measured("wrk", wrk, parse_wrk),
    ]


def rate_accuracy(url: str, rate: float, seconds: float, workers: int | None) -> tuple[float, str]:
    spec = LoadSpec(url=url, rate=rate, duration=seconds, concurrency=50)
    result = run_load_sync(spec, workers)
    return result.achieved_rate, result.summary_line()


def gate_check_p99_while_saturated(url: str, seconds: int, connections: int) -> float | None:
    """p99 (ms) of POST /gate/check on the service while `loadtester load` saturates nginx.

    Starts ``python -m loadtester -port=P -state=TMP``; returns None if it does not start.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        log = (Path(tmp) / "service.log").open("wb")
        service = subprocess.Popen(
            [sys.executable, "-m", "loadtester", f"-port={port}", f"-state={tmp}/state",
             "-log-level=error"],
            cwd=REPO, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            wait_port(port, 20)
            if post(port, "/gate/open")[0] >= 400:
                return None
            load = subprocess.Popen(
                [sys.executable, "-m", "loadtester.loadgen.cli", "-o", "json", "-z",
                 f"{seconds}s", "-c", str(connections), url],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)  # let the workers start and saturate
            latencies: list[float] = []
            end = time.monotonic() + max(seconds - 2.0, 1.0)
            while time.monotonic() < end:
                begin = time.perf_counter()
                post(port, "/gate/check")
                latencies.append((time.perf_counter() - begin) * 1000)
            load.wait()
        except (OSError, RuntimeError):
            return None
        finally:
            stop(service)
            log.close()
    latencies.sort()
    return latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else None


def post(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", path, body=GATE_BODY, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs instead of 10 s")
    parser.add_argument("--seconds", type=int, help="seconds per saturation and rate run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, help="built-in worker processes (default: CPUs)")
    parser.add_argument("--rates", default="100,1000,10000", help="comma-separated req/s")
    parser.add_argument("--no-gate", action="store_true", help="skip the /gate/check row")
    args = parser.parse_args()
    seconds = args.seconds or (3 if args.quick else 10)
    for tool in ("hey", "wrk", "/usr/sbin/nginx"):
        if shutil.which(tool) is None:
            print(f"bench_load: {tool} is not installed", file=sys.stderr)
            return 2
    rows: list[tuple[str, str, str, bool | None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        nginx, url = start_nginx(Path(tmp))
        try:
            runs = {run.tool: run for run in saturate(url, seconds, args.connections, args.workers)}
            for run in runs.values():
                rows.append((f"max req/s, {run.tool}", f"{run.rate:,.0f}", "", None))
            for run in runs.values():
                rows.append((f"CPU s per 100k requests, {run.tool}", f"{run.cpu_per_100k:.2f}",
                             "", None))  # fmt: skip
            ours, hey, wrk = runs["built-in"], runs["hey"], runs["wrk"]
            ratio_hey, ratio_wrk = ours.rate / hey.rate, ours.rate / wrk.rate
            cpu_ratio = ours.cpu_per_100k / hey.cpu_per_100k
            rows.append(("max req/s, built-in / hey", f"{ratio_hey:.2f}", ">= 2.0", ratio_hey >= 2))
            rows.append(("max req/s, built-in / wrk", f"{ratio_wrk:.2f}", ">= 0.7",
                         ratio_wrk >= 0.7))  # fmt: skip
            rows.append(("CPU per 100k, built-in / hey", f"{cpu_ratio:.2f}", "<= 0.5",
                         cpu_ratio <= 0.5))  # fmt: skip
            for rate in (float(r) for r in args.rates.split(",") if r.strip()):
                achieved, _ = rate_accuracy(url, rate, seconds, args.workers)
                ratio = achieved / rate
                rows.append((f"achieved / target at {rate:,.0f} req/s for {seconds} s",
                             f"{ratio:.4f}", "1 ± 0.01", abs(ratio - 1) <= 0.01))  # fmt: skip
            if not args.no_gate:
                p99 = gate_check_p99_while_saturated(url, seconds, args.connections)
                rows.append(("/gate/check p99 while saturated (ms)",
                             "n/a (service did not start)" if p99 is None else f"{p99:.1f}",
                             "< 20", None if p99 is None else p99 < 20))  # fmt: skip
        finally:
            stop(nginx)
    print(f"\nnginx return 200, {args.connections} connections, {seconds} s per run, "
          f"{os.cpu_count()} CPUs\n")  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | {'measured':>10} | {'target':<8} | ok  |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|{'-' * 10}|-----|")
    for name, value, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"| {name:<{width}} | {value:>10} | {target:<8} | {mark:<3} |")
    return 1 if any(ok is False for *_, ok in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
