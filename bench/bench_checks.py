#!/usr/bin/env python3
"""/healthz latency while a burst of blocking checks starts.

    python bench/bench_checks.py                 # 200 `bash` checks of `sleep 2`, 3 rounds
    python bench/bench_checks.py --checks 256 --rounds 5 --log-level debug

Starts `python -m loadtester -port=P -state=memory -log-level=info`, then in each round opens
one connection per check, sends every `POST /` at once (`{"type":"bash","cmd":"sleep 2"}`), and
meanwhile GETs /healthz back to back on a connection of its own, from a separate process so
that the client's own work does not delay the probe. Prints the probe's latency (median, p99,
max) during each burst and the checks' answers. Target: /healthz within 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import free_port, percentile, service_env, wait_healthy

TARGET_MS = 100.0


def probe(port: int, seconds: float, out: multiprocessing.Queue[list[float]]) -> None:
    """GET /healthz back to back for `seconds`; put the latencies (ms) on `out`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.002)
    out.put(latencies)


def burst(port: int, checks: int, command: str) -> Counter[int]:
    """Send `checks` blocking checks at once (one socket each); count the answers."""
    body = json.dumps({"name": "podinfo", "namespace": "bench",
                       "metadata": {"type": "bash", "cmd": command}}).encode()
    request = (b"POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(checks)]
    for sock in sockets:
        sock.sendall(request)
    answers: Counter[int] = Counter()
    for sock in sockets:
        sock.settimeout(30)
        head = sock.recv(65536).split(b" ", 2)
        answers[int(head[1]) if len(head) > 1 else 0] += 1
        sock.close()
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--command", default="sleep 2")
    parser.add_argument("--log-level", default="info")
    options = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "service.log"
        with log.open("wb") as sink:
            service = subprocess.Popen(
                [sys.executable, "-m", "loadtester", f"-port={port}", "-state=memory",
                 f"-log-level={options.log_level}"],
                stdout=sink, stderr=subprocess.STDOUT, cwd=tmp,
                env=service_env())
        try:
            wait_healthy(port)
            print(f"{options.checks} blocking checks `{options.command}` at once, "
                  f"/healthz probed back to back from another process")
            print(f"{'round':>5} {'probes':>7} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}  "
                  "answers")
            worst = 0.0
            for round_ in range(1, options.rounds + 1):
                queue: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
                prober = multiprocessing.Process(target=probe, args=(port, 3.0, queue))
                prober.start()
                time.sleep(0.3)
                answers = burst(port, options.checks, options.command)
                latencies = queue.get(timeout=60)
                prober.join()
                latencies.sort()
                p99 = percentile(latencies, 0.99)
                worst = max(worst, latencies[-1])
                print(f"{round_:>5} {len(latencies):>7} {statistics.median(latencies):>10.1f} "
                      f"{p99:>8.1f} {latencies[-1]:>8.1f}  {dict(sorted(answers.items()))}")
                time.sleep(0.5)
            verdict = "ok" if worst < TARGET_MS else "MISSED"
            print(f"worst /healthz latency {worst:.1f} ms (target < {TARGET_MS:.0f} ms): {verdict}")
            return 0 if worst < TARGET_MS else 1
        finally:
            service.terminate()
            service.wait(30)


if __name__ == "__main__":
    sys.exit(main())
