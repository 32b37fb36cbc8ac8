#!/usr/bin/env python3
"""Canary list benchmark: 10 000 canaries behind one token, then the time
of one page of GET /api/v1/canaries and the latency of /healthz while 5 clients poll it.

    python bench/bench_canaries.py              # 10 000 canaries, 10 s of polling
    python bench/bench_canaries.py --quick      # 2 000 canaries, 3 s of polling

For each store (SQLite; Redis, a redis-server started on a free port), starts the real service
(`python -m loadtester -token-file=...`, default -max-canaries), creates the canaries through
the service (POST /gate/check with the team-a token, 32 at a time), then measures:

- one page (the default 50, 100 and 500) of GET /api/v1/canaries: median and max of 20 requests,
  and the body's size; a walk of every page through `next`;
- /healthz every 20 ms: alone, then while 5 client processes poll the first page back to back
  ("tight") and once a second each (as 5 console tabs do): p50, p99 and max.

It prints a table; targets: one page < 50 ms, /healthz < 50 ms while 5 poll.
It measures and never asserts (exit code 0).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp
from common import REPO, free_port, percentile, service_env, stop

from tests.support.redis_server import RedisServer

TOKEN = "team-a-bench-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Latencies:
    """Milliseconds of a series of requests."""

    samples: list[float]

    def text(self) -> str:
        ordered = sorted(self.samples)
        p99 = percentile(ordered, 0.99)
        return (f"p50 {statistics.median(ordered):6.1f}  p99 {p99:6.1f}  "
                f"max {ordered[-1]:6.1f} ms  (n={len(ordered)})")


def start_service(port: int, state: str, tokens: Path, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtester", f"-port={port}", f"-state={state}",
         f"-token-file={tokens}", "-log-level=warning", "-load-workers=1"],
        cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        env=service_env())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if get(port, "/healthz")[0] == 200:
                return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the service did not start; see {log}")


def get(port: int, path: str, connection: http.client.HTTPConnection | None = None,
        ) -> tuple[int, bytes]:
    own = connection is None
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers=HEADERS)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


async def create(port: int, count: int) -> tuple[float, dict[int, int]]:
    """Seconds to make `count` canaries seen through POST /gate/check, and the statuses."""
    statuses: dict[int, int] = {}
    queue = iter(range(count))
    started = time.monotonic()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:

        async def worker() -> None:
            for number in queue:
                body = {"name": f"app-{number:05d}", "namespace": "team-a",
                        "phase": "Progressing", "checksum": f"rev-{number}"}
                async with session.post("/gate/check", data=json.dumps(body),
                                        headers=HEADERS) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(32)))
    return time.monotonic() - started, statuses


def time_page(port: int, limit: int, times: int = 20) -> tuple[Latencies, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    samples, size = [], 0
    for _ in range(times):
        started = time.perf_counter()
        status, body = get(port, f"/api/v1/canaries?limit={limit}", connection)
        samples.append((time.perf_counter() - started) * 1000)
        size = len(body)
        if status != 200:
            print(f"GET /api/v1/canaries answered {status}: {body[:200]!r}", file=sys.stderr)
    connection.close()
    return Latencies(samples), size


def walk(port: int, limit: int) -> tuple[float, int, int]:
    """Seconds, canaries and pages of a walk through every page."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    cursor, total, pages = None, 0, 0
    while True:
        path = f"/api/v1/canaries?limit={limit}" + (f"&cursor={quote(cursor)}" if cursor else "")
        _, body = get(port, path, connection)
        answer = json.loads(body)
        total += len(answer["canaries"])
        pages += 1
        cursor = answer["next"]
        if not cursor:
            connection.close()
            return time.perf_counter() - started, total, pages


def poll(port: int, interval: float, until: float) -> None:
    """One polling client: the first page, back to back (interval 0) or every `interval` s."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.time() < until:
        started = time.monotonic()
        get(port, "/api/v1/canaries", connection)
        if interval:
            time.sleep(max(0.0, interval - (time.monotonic() - started)))


def healthz_while(port: int, seconds: float, pollers: int, interval: float) -> Latencies:
    until = time.time() + seconds
    context = multiprocessing.get_context("spawn")
    clients = [context.Process(target=poll, args=(port, interval, until))
               for _ in range(pollers)]
    for client in clients:
        client.start()
    time.sleep(0.3 if pollers else 0)
    samples = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.time() < until:
        started = time.perf_counter()
        get(port, "/healthz", connection)
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    connection.close()
    for client in clients:
        client.join()
    return Latencies(samples)


def bench(kind: str, state: str, tmp: Path, count: int, seconds: float) -> list[str]:
    tokens = tmp / "tokens"
    tokens.write_text(f"team-a {TOKEN} team-a\n")
    port = free_port()
    process = start_service(port, state, tokens, tmp / f"{kind}.log")
    rows = [f"== {kind} =="]
    try:
        took, statuses = asyncio.run(create(port, count))
        rows.append(f"create {count} canaries: {took:.1f} s ({count / took:.0f}/s), "
                    f"statuses {statuses}")
        extra = asyncio.run(create_extra(port, count))
        rows.append(f"canary {count + 1} (past the default -max-canaries when 10 000): "
                    f"{extra}")
        for limit in (50, 100, 500):
            latencies, size = time_page(port, limit)
            rows.append(f"one page, limit {limit:3d}: {latencies.text()}  {size / 1024:.0f} KB")
        took, total, pages = walk(port, 500)
        rows.append(f"walk of every page (500 each): {took:.2f} s, {total} canaries, "
                    f"{pages} pages")
        rows.append(f"/healthz alone:              {healthz_while(port, seconds, 0, 0).text()}")
        rows.append(f"/healthz, 5 poll every 1 s:  {healthz_while(port, seconds, 5, 1).text()}")
        rows.append(f"/healthz, 5 poll tight:      {healthz_while(port, seconds, 5, 0).text()}")
    finally:
        stop(process, grace=15)
    return rows


async def create_extra(port: int, count: int) -> str:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        body = {"name": f"app-{count:05d}", "namespace": "team-a", "phase": "Progressing"}
        async with session.post("/gate/check", data=json.dumps(body),
                                headers=HEADERS) as response:
            return f"{response.status} {(await response.text())[:90]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 000 canaries, 3 s of polling")
    parser.add_argument("--only", choices=("sqlite", "redis"), help="one store only")
    args = parser.parse_args()
    count, seconds = (2_000, 3.0) if args.quick else (10_000, 10.0)
    rows = [f"{count} canaries of one token; one page target < 50 ms, /healthz < 50 ms "
            "while 5 clients poll"]
    with tempfile.TemporaryDirectory(prefix="bench-canaries-") as directory:
        tmp = Path(directory)
        if args.only in (None, "sqlite"):
            rows += bench("sqlite", str(tmp / "state"), tmp, count, seconds)
        if args.only in (None, "redis"):
            redis = RedisServer(tmp / "redis").start()
            try:
                rows += bench("redis", redis.url, tmp, count, seconds)
            finally:
                redis.stop()
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
