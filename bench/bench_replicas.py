#!/usr/bin/env python3
"""Replicas on one Redis: how long until another replica takes over after a SIGKILL.

    python bench/bench_replicas.py            # 3 rounds
    python bench/bench_replicas.py --rounds 5

Starts a redis-server on a free port (tests/support/redis_server.py, AOF on) and, per round, two
`python -m loadtester -state=redis://…` replicas with a webhook sink on loopback whose first
request never gets an answer, so that replica A holds that delivery. Measured per round:

- event takeover: A is killed (SIGKILL) mid-delivery; the time until B delivers the event;
- task takeover: A runs a background `cmd`; after A is killed, the same call is sent to B every
  0.2 s; the time until B starts the task again (both measured from the kill);
- Redis restart: a gate opened and 20 events accepted while their sink is down; Redis is stopped
  and started again; the time until /readyz answers 200 again, and whether the gate is still open
  and every event is delivered once the sink answers.

Targets: event takeover within 30 s, task lease lapse within 15 s, nothing lost.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import free_port, service_env

from tests.support.redis_server import RedisServer
from tests.support.webhook_sink import WebhookSink

CANARY = {"name": "podinfo", "namespace": "bench", "checksum": "abc"}


def call(port: int, path: str, body: dict[str, object] | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST" if body is not None else "GET", path,
                           body=json.dumps(body) if body is not None else None)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def start(state: str, sink: str, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = (tmp / f"replica-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtester", f"-port={port}", f"-state={state}",
         "-log-level=info", f"-event-webhook-url={sink}"],
        stdout=log, stderr=subprocess.STDOUT, env=service_env())
    wait(lambda: call(port, "/healthz") == 200, 20)
    return process, port


def wait(condition: Callable[[], bool], within: float, step: float = 0.02) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > within:
            raise SystemExit("condition not met in time")
        time.sleep(step)
    return time.monotonic() - began


def event(message: str) -> dict[str, object]:
    return {**CANARY, "phase": "Progressing",
            "metadata": {"eventMessage": message, "eventType": "Normal"}}


def round_trip(redis: RedisServer, tmp: Path, index: int) -> tuple[float, float]:
    """One round: (event takeover seconds, task takeover seconds)."""
    redis.flush()
    sink = WebhookSink(hang_first=True)
    a, a_port = start(redis.url, sink.url, tmp)
    b, b_port = start(redis.url, sink.url, tmp)
    try:
        runs = tmp / f"runs-{index}"
        task = {**CANARY, "metadata": {"cmd": f"echo $$ >> {runs}; exec sleep 300"}}
        # A takes both: the event (B is idle until its next poll) and the task
        assert call(a_port, "/events", event(f"round {index}")) == 202
        wait(lambda: len(sink.messages) == 1, 10)
        assert call(a_port, "/", task) == 202
        wait(runs.exists, 10)
        a.send_signal(signal.SIGKILL)
        a.wait()
        killed = time.monotonic()
        seen: dict[str, float] = {}
        while len(seen) < 2 and time.monotonic() - killed < 60:
            if "event" not in seen and len(sink.messages) >= 2:
                seen["event"] = time.monotonic() - killed
            if "task" not in seen:
                call(b_port, "/", task)
                if len(runs.read_text().split()) >= 2:
                    seen["task"] = time.monotonic() - killed
            time.sleep(0.2)
        return seen.get("event", float("inf")), seen.get("task", float("inf"))
    finally:
        for process in (a, b):
            if process.poll() is None:
                process.kill()
                process.wait()
        sink.close()


def redis_restart(redis: RedisServer, tmp: Path) -> tuple[float, bool, int, int]:
    """(seconds until /readyz is 200 again, gate still open, events sent, events delivered)."""
    redis.flush()
    sink = WebhookSink()
    sink.refuse.set()
    process, port = start(redis.url, sink.url, tmp)
    try:
        assert call(port, "/gate/open", CANARY) == 202
        sent = 20
        for index in range(sent):
            assert call(port, "/events", {**event(f"kept {index}"), "name": f"c{index}"}) == 202
        redis.stop()
        redis.start()
        back = wait(lambda: call(port, "/readyz") == 200, 30)
        gate_open = call(port, "/gate/check", CANARY) == 200
        sink.refuse.clear()
        with contextlib.suppress(SystemExit):  # the table says how many arrived
            wait(lambda: len(set(sink.messages)) >= sent, 60, 0.1)
        return back, gate_open, sent, len(set(sink.messages))
    finally:
        process.kill()
        process.wait()
        sink.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp_dir:
        tmp = Path(tmp_dir)
        redis = RedisServer(tmp / "redis").start()
        try:
            rounds = [round_trip(redis, tmp, index) for index in range(args.rounds)]
            back, gate_open, sent, delivered = redis_restart(redis, tmp)
        finally:
            redis.stop()
    events = [r[0] for r in rounds]
    tasks = [r[1] for r in rounds]
    print(f"{args.rounds} rounds, 2 replicas on one redis-server (AOF on), {os.cpu_count()} CPUs")
    rows = [
        ("event delivered by B after A was killed mid-delivery",
         f"median {statistics.median(events):.1f} s (max {max(events):.1f})", "< 30 s",
         max(events) < 30),
        ("background task started again by B after A was killed",
         f"median {statistics.median(tasks):.1f} s (max {max(tasks):.1f})", "< 15 s + 1 call",
         max(tasks) < 16),
        ("/readyz 200 again after a Redis restart", f"{back:.2f} s", "-", None),
        ("gate still open after the Redis restart", "yes" if gate_open else "NO", "yes",
         gate_open),
        ("events accepted before the restart, delivered after", f"{delivered}/{sent}",
         "all", delivered == sent),
    ]
    width = max(len(row[0]) for row in rows)
    for name, value, target, met in rows:
        mark = "-" if met is None else "yes" if met else "NO"
        print(f"{name.ljust(width)} | {value:<28} | {target:<16} | {mark}")
    return 0 if all(row[3] is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
