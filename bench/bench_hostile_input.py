#!/usr/bin/env python3
"""Hostile input benchmark: does one request stall the service?

    python bench/bench_hostile_input.py                  # this checkout
    python bench/bench_hostile_input.py --repo /tmp/old  # another checkout, same venv

Starts `python -m loadtester -port=P -state=memory` (from --repo) and, for each input, posts it
(--repeat times, 3) while a second thread polls GET /healthz every 5 ms on a keep-alive
connection; prints the answer's status, slowest time and size, and /healthz p50/max over the
polls in flight while an answer was awaited. The
targets: /healthz max < 50 ms, and its two inputs (the 500 KB list and the 496-byte
alias bomb) answered 400 in < 1 s. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

from common import REPO, free_port

from tests.support.hostile_input import HUGE_LIST, alias_bomb, flow_list

POLL_INTERVAL = 0.005


def _load(metadata: dict[str, str]) -> bytes:
    return json.dumps({"name": "podinfo", "namespace": "test",
                       "metadata": {"type": "load", **metadata}}).encode()


def inputs() -> list[tuple[str, str, bytes]]:
    """(name, path, body) of each input."""
    heavy_mix = "requests:\n" + "".join(
        f"- {{url: /r{i}, weight: {1 if i < 99 else 9901}}}\n" for i in range(100))
    hey = ("hey -n 1 " + "-H 'a: b' " * 100_000)[:1000 * 1024] + " http://127.0.0.1:1/"
    return [
        ("scenario: 500 KB flow list", "/", _load({"scenario": HUGE_LIST})),
        ("scenario: 496-byte alias bomb", "/", _load({"scenario": alias_bomb()})),
        ("scenario: 256 KiB flow list, requests", "/",
         _load({"scenario": flow_list("requests", 256 * 1024)})),
        ("scenario: 256 KiB flow list, stages", "/",
         _load({"scenario": flow_list("stages", 256 * 1024)})),
        ("scenario: 100 requests, period 10 000", "/",
         _load({"url": "http://127.0.0.1:1/", "scenario": heavy_mix, "duration": "1000h"})),
        ("scenario: small, unknown key", "/",
         _load({"url": "http://127.0.0.1:1/", "scenario": "requests: [{url: /, x: 1}]"})),
        ("load cmd: 1000 KiB hey command line", "/", _load({"cmd": hey})),
        ("gate/check: 1 MiB body, 70 000 keys", "/gate/check",
         json.dumps({"name": "podinfo", "namespace": "test",
                     "metadata": {f"k{i}": "v" for i in range(70_000)}}).encode()),
        ("gate/check: small", "/gate/check", b'{"name":"podinfo","namespace":"test"}'),
        ("events: 1 MiB body, 69 000 keys", "/events",
         json.dumps({"name": "podinfo", "namespace": "test", "phase": "Progressing",
                     "metadata": {"eventMessage": "hello", "eventType": "Normal",
                                  **{f"k{i}": "v" for i in range(69_000)}}}).encode()),
    ]


class Poller(threading.Thread):
    """GET /healthz every 5 ms; records (sent at, latency) of each answer."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stopped.is_set():
            start = time.monotonic()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            self.samples.append((start, time.monotonic() - start))
            time.sleep(POLL_INTERVAL)
        conn.close()

    def during(self, start: float, end: float) -> list[float]:
        """Latencies of the polls that were in flight at some point in [start, end]."""
        return [lat for sent, lat in self.samples if sent <= end and sent + lat >= start]


def start_service(repo: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "python"), "-m", "loadtester", f"-port={port}",
         "-state=memory", "-log-level=error"],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(repo)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the service did not start")


def post(port: int, path: str, body: bytes) -> tuple[int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, len(data)


def measure(port: int, poller: Poller, path: str, body: bytes, repeat: int) -> list[str]:
    """Post ``body`` ``repeat`` times: its status, the slowest answer, the answer's size and
    /healthz p50/max over every poll in flight while an answer was awaited."""
    statuses, times, latencies, size = set(), [], [], 0
    for _ in range(repeat):
        time.sleep(0.1)  # some idle polls first
        start = time.monotonic()
        status, size = post(port, path, body)
        end = time.monotonic()
        time.sleep(0.05)
        statuses.add(status)
        times.append(end - start)
        latencies += poller.during(start, end)
    p50, top = ("-", "-")
    if latencies:
        p50 = f"{1000 * statistics.median(latencies):.1f}"
        top = f"{1000 * max(latencies):.1f}"
    return ["/".join(map(str, sorted(statuses))), f"{max(times):.3f}", f"{size}", p50, top,
            str(len(latencies))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the checkout to serve (default: this one), with this venv")
    parser.add_argument("--repeat", type=int, default=3, help="posts of each input (3)")
    args = parser.parse_args()
    port = free_port()
    proc = start_service(args.repo.resolve(), port)
    try:
        poller = Poller(port)
        poller.start()
        rows = [[name, f"{len(body)}", *measure(port, poller, path, body, args.repeat)]
                for name, path, body in inputs()]
        poller.stopped.set()
        poller.join()
    finally:
        proc.terminate()
        proc.wait(10)
    head = ["input", "bytes", "status", "answer s (max)", "answer bytes", "healthz p50 ms",
            "healthz max ms", "polls"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print(f"service: {args.repo.resolve()}  (python -m loadtester -state=memory)")
    for row in [head, *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))


if __name__ == "__main__":
    main()
