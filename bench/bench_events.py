#!/usr/bin/env python3
"""Event forwarding benchmark: POST /events answer latency, time until delivered, and what a
backlog to an unreachable sink costs, on each state backend (memory, SQLite, Redis).

    python bench/bench_events.py                       # everything (about 3 minutes)
    python bench/bench_events.py --events 300          # a smaller burst
    python bench/bench_events.py --lanes 2000 --idle 5 --no-ack   # a quick backlog run

Starts a redis-server on a free port (tests/support/redis_server.py), a local receiver (a separate
process answering 200) and, per backend, `python -m loadtester -port=P -state=S
-event-webhook-url=<receiver>`. Acks: a burst as fast as 8 connections allow (10 canaries,
distinct messages), then a paced run at 100 events/s; for each, the answer latency (p50, p99,
max) seen by the sender and the time from the first POST until the receiver has every event.
Backlog: a service whose only sink is a port nobody listens on gets `--lanes` events of as
many canaries; its CPU share while otherwise idle (utime + stime from /proc/PID/stat over
`--idle` seconds) and the p99 of sequential POST /gate/check (gate open) are measured before
and after. Targets: ack p99 < 10 ms at 100 events/s; with 10 000 lanes pending,
idle CPU < 5 % of a core and /gate/check p99 < 2x its value without the backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from common import REPO, free_port, service_env

from tests.support.redis_server import RedisServer

CANARIES = 10
BACKENDS = ("memory", "sqlite", "redis")
GATE = {"name": "podinfo", "namespace": "test"}


def _receiver(port: int) -> None:
    """A receiver process: counts events, GET /count answers how many arrived."""
    seen: set[str] = set()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        seen.add(body["message"])
        return web.Response(text="ok")

    async def count(_request: web.Request) -> web.Response:
        return web.Response(text=str(len(seen)))

    async def reset(_request: web.Request) -> web.Response:
        seen.clear()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/count", count)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@dataclass
class AckRow:
    state: str
    run: str
    p50: float
    p99: float
    worst: float
    delivered_after: float


@dataclass
class BacklogRow:
    state: str
    lanes: int
    cpu_before: float
    cpu_after: float
    gate_before: float
    gate_after: float


def _percentile(values: list[float], share: float) -> float:  # nearest rank
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _payload(run: str, index: int, canaries: int = CANARIES) -> dict[str, object]:
    return {"name": f"app{index % canaries}", "namespace": "bench", "phase": "Progressing",
            "checksum": "c0ffee",
            "metadata": {"eventMessage": f"{run} event {index}", "eventType": "Normal",
                         "timestamp": str(1_700_000_000_000 + index)}}


async def _wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextlib.asynccontextmanager
async def _service(session: aiohttp.ClientSession, state: str,
                   sink: str) -> AsyncIterator[tuple[str, int]]:
    """The service on a free port: its URL and process id; stopped on exit."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtester", f"-port={port}", "-host=127.0.0.1",
         f"-state={state}", "-log-level=warning", "-event-fold-window=0",
         f"-event-webhook-url={sink}"],
        cwd=REPO, env=service_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(session, url + "/healthz")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(15)


async def _post_all(session: aiohttp.ClientSession, url: str, payloads: list[dict[str, object]],
                    rate: float | None, connections: int = 8) -> list[float]:
    """POST every payload (paced at `rate`/s, or as fast as `connections` allow); latencies."""
    latencies: list[float] = []
    started = time.perf_counter()

    async def send(payload: dict[str, object]) -> None:
        sent = time.perf_counter()
        async with session.post(url + "/events", json=payload) as answer:
            await answer.read()
            assert answer.status == 202, answer.status
        latencies.append(time.perf_counter() - sent)

    if rate is None:
        pending = iter(payloads)

        async def worker() -> None:
            for payload in pending:
                await send(payload)

        await asyncio.gather(*(worker() for _ in range(connections)))
    else:
        for index, payload in enumerate(payloads):
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            await send(payload)
    return latencies


async def _acks(session: aiohttp.ClientSession, kind: str, state: str, receiver: str,
                events: int, paced: int) -> list[AckRow]:
    rows: list[AckRow] = []
    async with _service(session, state, receiver + "/hook") as (url, _pid):
        runs = (("warm-up", 50, None), (f"burst of {events}", events, None),
                (f"{paced} at 100/s", paced, 100.0))
        for name, count, rate in runs:
            async with session.post(receiver + "/reset") as answer:
                await answer.read()
            started = time.perf_counter()
            latencies = await _post_all(session, url, [_payload(name, i) for i in range(count)],
                                        rate)
            while True:
                async with session.get(receiver + "/count") as answer:
                    if int(await answer.text()) >= count:
                        break
                await asyncio.sleep(0.005)
            if name != "warm-up":
                rows.append(AckRow(kind, name, statistics.median(latencies) * 1000,
                                   _percentile(latencies, 0.99) * 1000,
                                   max(latencies) * 1000, time.perf_counter() - started))
    return rows


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _idle_cpu(pid: int, seconds: float) -> float:
    """Share of one core the process used over `seconds` of doing nothing asked of it."""
    before, began = _cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (_cpu_seconds(pid) - before) / (time.monotonic() - began)


async def _gate_p99(session: aiohttp.ClientSession, url: str, seconds: float) -> float:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sent = time.perf_counter()
        async with session.post(url + "/gate/check", json=GATE) as answer:
            await answer.read()
            assert answer.status == 200, answer.status
        latencies.append(time.perf_counter() - sent)
    return _percentile(latencies, 0.99) * 1000


async def _backlog(session: aiohttp.ClientSession, kind: str, state: str, lanes: int,
                   idle: float) -> BacklogRow:
    nobody = f"http://127.0.0.1:{free_port()}/hook"
    async with _service(session, state, nobody) as (url, pid):
        async with session.post(url + "/gate/open", json=GATE) as answer:
            assert answer.status == 202, answer.status
        await _gate_p99(session, url, 1.0)  # warm-up
        cpu_before = await _idle_cpu(pid, idle)
        gate_before = await _gate_p99(session, url, 5.0)
        await _post_all(session, url, [_payload("backlog", i, lanes) for i in range(lanes)],
                        None)
        await asyncio.sleep(2.0)
        cpu_after = await _idle_cpu(pid, idle)
        gate_after = await _gate_p99(session, url, 5.0)
    return BacklogRow(kind, lanes, cpu_before * 100, cpu_after * 100, gate_before, gate_after)


async def bench(options: argparse.Namespace, tmp: Path) -> tuple[list[AckRow], list[BacklogRow]]:
    redis = RedisServer(tmp / "redis").start()
    receiver_port = free_port()
    receiver = multiprocessing.Process(target=_receiver, args=(receiver_port,), daemon=True)
    receiver.start()
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    acks: list[AckRow] = []
    backlog: list[BacklogRow] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
            await _wait_ready(session, receiver_url + "/count")
            for kind in BACKENDS:
                for part in ("ack", "backlog"):
                    if getattr(options, f"no_{part}"):
                        continue
                    redis.flush()
                    state = {"memory": "memory", "redis": redis.url}.get(
                        kind, str(tmp / f"state-{part}"))
                    if part == "ack":
                        acks += await _acks(session, kind, state, receiver_url,
                                            options.events, options.paced)
                    else:
                        backlog.append(await _backlog(session, kind, state, options.lanes,
                                                      options.idle))
    finally:
        receiver.terminate()
        receiver.join(5)
        redis.stop()
    return acks, backlog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events in the burst")
    parser.add_argument("--paced", type=int, default=1000,
                        help="events sent at 100 events/s (default 1000 = 10 s)")
    parser.add_argument("--lanes", type=int, default=10_000, help="lanes of the backlog")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of CPU sampling")
    for part in ("ack", "backlog"):
        parser.add_argument(f"--no-{part}", action="store_true", help=f"skip the {part} runs")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        acks, backlog = asyncio.run(bench(options, Path(tmp)))
    if acks:
        print(f"{'state':<7} {'run':<18} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
              f"{'all delivered after':>20}")
        for row in acks:
            print(f"{row.state:<7} {row.run:<18} {row.p50:>7.2f} {row.p99:>7.2f} "
                  f"{row.worst:>7.2f} {row.delivered_after:>19.2f}s")
        print("target: p99 < 10 ms at 100 events/s\n")
    if backlog:
        print(f"{'state':<7} {'lanes':>6} {'idle CPU':>9} {'+backlog':>9} {'gate p99 ms':>12} "
              f"{'+backlog':>9} {'ratio':>6}")
        for b in backlog:
            print(f"{b.state:<7} {b.lanes:>6} {b.cpu_before:>8.1f}% {b.cpu_after:>8.1f}% "
                  f"{b.gate_before:>12.2f} {b.gate_after:>9.2f} "
                  f"{b.gate_after / b.gate_before:>6.2f}")
        print("target: idle CPU < 5 % with the backlog; gate p99 ratio < 2")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
