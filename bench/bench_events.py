#!/usr/bin/env python3
"""Event forwarding benchmark: answer latency of POST /events and time until delivered.

    python bench/bench_events.py               # 1000-event burst + 100 events/s for 10 s
    python bench/bench_events.py --events 300  # a smaller burst

Starts a local receiver (a separate process answering 200) and `python -m loadtester
-port=P -state=TMP -event-webhook-url=<receiver>` (then again with -state=memory), posts a
burst of events as fast as 8 connections allow (10 canaries, distinct messages), then a paced
run at 100 events/s. For each it reports the answer latency (p50, p99, max) seen by the sender
and the time from the first POST until the receiver has every event. Issue 4's target: p99
under 10 ms at 100 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
CANARIES = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
class Row:
    state: str
    run: str
    events: int
    p50: float
    p99: float
    worst: float
    delivered_after: float


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _payload(run: str, index: int) -> dict[str, object]:
    return {"name": f"app{index % CANARIES}", "namespace": "bench", "phase": "Progressing",
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


async def _delivered(session: aiohttp.ClientSession, receiver: str, wanted: int,
                     started: float) -> float:
    while True:
        async with session.get(receiver + "/count") as answer:
            if int(await answer.text()) >= wanted:
                return time.perf_counter() - started
        await asyncio.sleep(0.005)


async def _run(session: aiohttp.ClientSession, service: str, receiver: str, run: str,
               events: int, rate: float | None) -> tuple[list[float], float]:
    async with session.post(receiver + "/reset") as answer:
        await answer.read()
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(events):
        queue.put_nowait(index)
    started = time.perf_counter()

    async def send(index: int) -> None:
        sent = time.perf_counter()
        async with session.post(service + "/events", json=_payload(run, index)) as answer:
            await answer.read()
            assert answer.status == 202, answer.status
        latencies.append(time.perf_counter() - sent)

    if rate is None:
        async def worker() -> None:
            while not queue.empty():
                await send(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(8)))
    else:
        for index in range(events):
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await send(index)
    delivered = await _delivered(session, receiver, events, started)
    return latencies, delivered


async def bench(events: int, paced: int) -> list[Row]:
    rows: list[Row] = []
    receiver_port = _free_port()
    receiver = multiprocessing.Process(target=_receiver, args=(receiver_port,), daemon=True)
    receiver.start()
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    try:
        connector = aiohttp.TCPConnector(limit=16)
        async with aiohttp.ClientSession(connector=connector) as session:
            await _wait_ready(session, receiver_url + "/count")
            for state_kind in ("sqlite", "memory"):
                with tempfile.TemporaryDirectory() as tmp:
                    state = str(Path(tmp) / "state") if state_kind == "sqlite" else "memory"
                    port = _free_port()
                    process = subprocess.Popen(
                        [sys.executable, "-m", "loadtester", f"-port={port}",
                         "-host=127.0.0.1", f"-state={state}", "-log-level=warning",
                         "-event-fold-window=0", f"-event-webhook-url={receiver_url}/hook"],
                        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )
                    service = f"http://127.0.0.1:{port}"
                    try:
                        await _wait_ready(session, service + "/healthz")
                        await _run(session, service, receiver_url, "warm-up", 50, None)
                        runs = ((f"burst of {events}", events, None),
                                (f"{paced} at 100/s", paced, 100.0))
                        for name, count, rate in runs:
                            latencies, delivered = await _run(session, service, receiver_url,
                                                              name, count, rate)
                            rows.append(Row(state_kind, name, count,
                                            statistics.median(latencies) * 1000,
                                            _percentile(latencies, 0.99) * 1000,
                                            max(latencies) * 1000, delivered))
                    finally:
                        process.terminate()
                        process.wait(15)
    finally:
        receiver.terminate()
        receiver.join(5)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events in the burst")
    parser.add_argument("--paced", type=int, default=1000,
                        help="events sent at 100 events/s (default 1000 = 10 s)")
    options = parser.parse_args()
    rows = asyncio.run(bench(options.events, options.paced))
    print(f"{'state':<7} {'run':<18} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
          f"{'all delivered after':>20}")
    for row in rows:
        print(f"{row.state:<7} {row.run:<18} {row.p50:>7.2f} {row.p99:>7.2f} {row.worst:>7.2f} "
              f"{row.delivered_after:>19.2f}s")
    print("target (issue 4): p99 < 10 ms at 100 events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
