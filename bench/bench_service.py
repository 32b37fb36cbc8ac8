#!/usr/bin/env python3
"""Service benchmark: start-up time, idle RSS, /gate/check under wrk beside a minimal app,
on each state backend, and /metrics with 30 000 open gates.

    python bench/bench_service.py            # wrk -t2 -c50 -d10s
    python bench/bench_service.py --quick    # wrk -t2 -c50 -d3s

Starts `python -m loadtester -port=P -state=TMP` five times and reports the median time from
process start to the first `200 OK` from /healthz and the median resident set size (VmRSS)
right after start. Then runs wrk against POST /gate/check (gate opened, so every answer is
`200 Approved`) with the SQLite, memory and Redis (a redis-server started on a free port)
stores, and against a minimal aiohttp app on uvloop that answers `OK`, with the same wrk
settings, and prints a table with each figure's target.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import free_port, service_env, stop

from tests.support.redis_server import RedisServer

BODY = '{"name":"podinfo","namespace":"test"}'
STARTS = 5

WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""

MINIMAL_APP = """
import sys

import uvloop
from aiohttp import web


async def ok(_request: web.Request) -> web.Response:
    return web.Response(text="OK")


app = web.Application()
app.router.add_route("*", "/{tail:.*}", ok)
web.run_app(app, port=int(sys.argv[1]), print=None, access_log=None,
            loop=uvloop.new_event_loop())
"""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests_per_second: float
    p99_ms: float
    non_2xx: int
    errors: str


def get(port: int, path: str, body: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("POST" if body else "GET", path, body=body)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def wait_healthy(
    process: subprocess.Popen[bytes], port: int, path: str, within: float = 30
) -> float:
    """Seconds from now until `path` answers 200; the caller starts the clock at Popen."""
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        if process.poll() is not None:
            raise SystemExit(f"process exited with {process.returncode} before serving")
        try:
            if get(port, path)[0] == 200:
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.002)
    raise SystemExit(f"not healthy within {within}s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")


def start_loadtester(
    port: int, state: Path | str, log: Path, log_level: str = "info"
) -> tuple[subprocess.Popen[bytes], float]:
    """Start the service; return it and the seconds until /healthz answered 200."""
    env = service_env()
    with log.open("ab") as sink:
        began = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadtester",
                f"-port={port}",
                f"-state={state}",
                f"-log-level={log_level}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    wait_healthy(process, port, "/healthz")
    return process, time.perf_counter() - began


def _to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: Path, threads: int, connections: int, duration: str) -> WrkResult:
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    if rps is None or p99 is None:
        raise SystemExit(f"cannot parse wrk output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    return WrkResult(
        float(rps.group(1)),
        _to_ms(p99.group(1), p99.group(2)),
        int(non_2xx.group(1)) if non_2xx else 0,
        errors.group(1).strip() if errors else "",
    )


OPEN_GATES = 30_000


def metrics_with_open_gates(state: str, tmp: Path, log: Path) -> tuple[float, int]:
    """Median time and size of GET /metrics once OPEN_GATES gates are open."""
    port = free_port()
    process, _ = start_loadtester(port, state, log)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for index in range(OPEN_GATES):
            connection.request("POST", "/gate/open",
                               body=f'{{"name":"c{index}","namespace":"bench"}}')
            connection.getresponse().read()
        times: list[float] = []
        size = 0
        for _ in range(11):
            began = time.perf_counter()
            connection.request("GET", "/metrics")
            size = len(connection.getresponse().read())
            times.append(time.perf_counter() - began)
        connection.close()
        return statistics.median(times), size
    finally:
        stop(process, grace=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="wrk -d3s instead of -d10s")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    duration = "3s" if args.quick else "10s"

    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp_dir:
        tmp = Path(tmp_dir)
        log = tmp / "loadtester.log"
        script = tmp / "post.lua"
        script.write_text(WRK_SCRIPT)
        minimal_script = tmp / "minimal_app.py"
        minimal_script.write_text(MINIMAL_APP)

        # start-up and idle RSS: five cold starts, each on a fresh state directory
        startups: list[float] = []
        rss: list[float] = []
        for index in range(STARTS):
            port = free_port()
            process, seconds = start_loadtester(port, tmp / f"state{index}", log)
            startups.append(seconds)
            time.sleep(0.5)  # let start-up garbage settle before reading RSS
            rss.append(rss_mb(process.pid))
            stop(process, grace=20)

        # /gate/check throughput, gate open -> 200 Approved: on each backend at info
        # (Flagger's Deployment), and on SQLite at debug, where every request's line is written
        redis_server = RedisServer(tmp / "redis").start()
        backends = {"sqlite": str(tmp / "state-wrk"), "memory": "memory",
                    "redis": redis_server.url}
        checks: dict[str, WrkResult] = {}
        try:
            for name, level in (("sqlite", "info"), ("memory", "info"), ("redis", "info"),
                                ("sqlite", "debug")):
                port = free_port()
                process, _ = start_loadtester(port, backends[name], log, level)
                try:
                    get(port, "/gate/open", BODY)
                    assert get(port, "/gate/check", BODY) == (200, "Approved")
                    url = f"http://127.0.0.1:{port}/gate/check"
                    run_wrk(url, script, args.threads, args.connections, "1s")  # warm-up
                    checks[f"{name}-{level}"] = run_wrk(url, script, args.threads,
                                                        args.connections, duration)
                finally:
                    stop(process, grace=20)
            scrape = {name: metrics_with_open_gates(backends[name], tmp, log)
                      for name in ("sqlite", "redis")}
        finally:
            redis_server.stop()
        service = checks["sqlite-info"]

        port = free_port()
        minimal = subprocess.Popen(
            [sys.executable, str(minimal_script), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(minimal, port, "/")
            url = f"http://127.0.0.1:{port}/gate/check"
            run_wrk(url, script, args.threads, args.connections, "1s")  # warm-up
            ceiling = run_wrk(url, script, args.threads, args.connections, duration)
        finally:
            stop(minimal, grace=20)

    startup = statistics.median(startups)
    idle_rss = statistics.median(rss)
    ratio = service.requests_per_second / ceiling.requests_per_second
    rows = [
        (
            "start-up to first healthy /healthz (median of 5)",
            f"{startup * 1000:.0f} ms",
            "-",
            "< 1 s",
            startup < 1.0,
        ),
        ("idle RSS after start (median of 5)", f"{idle_rss:.1f} MB", "-", "< 60 MB", idle_rss < 60),
        (
            "POST /gate/check throughput",
            f"{service.requests_per_second:,.0f} req/s",
            f"{ceiling.requests_per_second:,.0f} req/s",
            ">= 0.5x minimal",
            ratio >= 0.5,
        ),
        (
            "  the same at -log-level=debug (every request logged)",
            f"{checks['sqlite-debug'].requests_per_second:,.0f} req/s",
            f"{ceiling.requests_per_second:,.0f} req/s",
            "-",
            None,
        ),
        (
            "POST /gate/check p99 latency",
            f"{service.p99_ms:.2f} ms",
            f"{ceiling.p99_ms:.2f} ms",
            "-",
            None,
        ),
    ]
    for name in ("memory", "redis"):
        result = checks[f"{name}-info"]
        rows.append((f"POST /gate/check on -state={name}: throughput, p99",
                     f"{result.requests_per_second:,.0f} req/s, {result.p99_ms:.2f} ms",
                     f"{ceiling.requests_per_second:,.0f} req/s", "-", None))
    for name, (seconds, size) in scrape.items():
        rows.append((f"GET /metrics with {OPEN_GATES:,} open gates ({name})",
                     f"{seconds * 1000:.1f} ms, {size / 1024:.1f} KB", "-",
                     "< 50 ms, < 100 KB", seconds < 0.05 and size < 100 * 1024))
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{duration} --latency, POST {BODY}; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )
    print(
        f"start-ups: {', '.join(f'{s * 1000:.0f}' for s in startups)} ms; "
        f"RSS: {', '.join(f'{r:.1f}' for r in rss)} MB"
    )
    header = ("metric", "loadtester", "minimal aiohttp", "target", "met")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, [*widths, 3], strict=True)))
    print("-+-".join("-" * w for w in [*widths, 3]))
    for row in rows:
        met = "-" if row[4] is None else ("yes" if row[4] else "NO")
        print(
            " | ".join(str(c).ljust(w) for c, w in zip([*row[:4], met], [*widths, 3], strict=True))
        )
    print(f"throughput ratio loadtester/minimal: {ratio:.2f}")
    for name, result in (("loadtester", service), ("minimal", ceiling)):
        if result.non_2xx or result.errors:
            print(
                f"warning: {name}: {result.non_2xx} non-2xx answers, socket errors: "
                f"{result.errors or 'none'}"
            )
    return 0 if all(row[4] is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
