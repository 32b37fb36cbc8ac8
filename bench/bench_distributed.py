#!/usr/bin/env python3
"""One load run spread over 3 service replicas on one Redis, counted by nginx.

    python bench/bench_distributed.py                 # 3 000 req/s for 10 s over 3 replicas
    python bench/bench_distributed.py --rounds 3 --rate 6000 --duration 5s

Starts a redis-server on a free port (tests/support/redis_server.py, AOF on), nginx (Debian
nginx-light) answering `return 200` and logging each answer to its access log, pinned as
bench_load.py pins it (one worker on CPU 0, the replicas on CPU 1, with two CPUs or more), and
`--replicas` processes of `python -m loadtester -state=redis://…`. Each round starts the run from
a shell through the first replica, `loadtester load --via URL --replicas N -o json`, which posts
`type: load` with `replicas: "N"` and `wait: "true"` and prints the run's record. Per round:

- target: the requests nginx logged vs rate x duration (target: within 1 %);
- each share: the requests its replica completed vs rate x duration / N (target: within 1 %);
- merged: the run's merged request count vs nginx's count (target: equal).

The exit code is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import free_port, pinned, run_nginx, service_env, stop, wait_healthy
from load_rows import Placement

from loadtester.durations import parse_go_duration
from tests.support.redis_server import RedisServer

LOGGED = """
    server {{
        listen 127.0.0.1:{port};
        access_log {dir}/access.log stamps;
        location / {{ return 200; }}
    }}"""
CONNECTIONS_PER_1000 = 10  # -c of the run per 1 000 req/s
Row = tuple[str, str, str, bool]  # what, measured, target, met


def start_replica(state: str, tmp: Path, index: int, cpus: str | None
                  ) -> tuple[subprocess.Popen[bytes], int]:
    """One `python -m loadtester` on the Redis store, once /healthz answers."""
    port = free_port()
    log = (tmp / f"replica-{index}.log").open("wb")
    process = subprocess.Popen(
        pinned([sys.executable, "-m", "loadtester", f"-port={port}", f"-state={state}",
                "-log-level=warning"], cpus),
        stdout=log, stderr=subprocess.STDOUT, env=service_env(), cwd=tmp)
    wait_healthy(port)
    return process, port


def access_log_lines(path: Path, settle: float = 1.0) -> int:
    """nginx's logged answers once the count stops growing (it logs just after answering)."""
    count, since = -1, time.monotonic()
    while time.monotonic() - since < settle:
        now = len(path.read_bytes().splitlines()) if path.exists() else 0
        if now != count:
            count, since = now, time.monotonic()
        time.sleep(0.1)
    return count


def run_round(via: int, replicas: int, rate: float, duration: str, url: str
              ) -> tuple[int, dict[str, Any] | None, str]:
    """`loadtester load --via` once: its exit code, the run's record (None without), stderr."""
    connections = max(replicas, round(rate / 1000 * CONNECTIONS_PER_1000))
    argv = [sys.executable, "-m", "loadtester", "load", "--via", f"http://127.0.0.1:{via}/",
            "--replicas", str(replicas), "--canary", "bench.distributed", "-o", "json",
            "-z", duration, "-c", str(connections), "-q", f"{rate / connections:g}", url]
    done = subprocess.run(argv, capture_output=True, text=True, env=service_env(), check=False)
    try:
        record = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        record = None
    return done.returncode, record, done.stderr.strip()


def rows_of(record: dict[str, Any] | None, logged: int, expected: float,
            replicas: int) -> list[Row]:
    """The round's figures beside their targets."""
    rows: list[Row] = [("target: requests nginx logged", f"{logged:,}",
                        f"{expected:,.0f} ± 1 %", abs(logged - expected) <= expected / 100)]
    if record is None:
        return [*rows, ("merged: the run's record", "none", "a record", False)]
    shares = record.get("replicas") or []
    third = expected / replicas
    for share in shares:
        done = int(share.get("requests", 0))
        rows.append((f"share {int(share['share']) + 1}/{share['shares']} "
                     f"({share.get('replica') or '-'}, {share.get('state')})",
                     f"{done:,} ({100 * done / expected:.2f} %)",
                     f"{third:,.0f} ± 1 %", abs(done - third) <= third / 100))
    if len(shares) != replicas:
        rows.append(("shares reported", str(len(shares)), str(replicas), False))
    merged = int(record.get("requests", -1))
    rows.append(("merged: the run's requests vs nginx", f"{merged:,} vs {logged:,}", "equal",
                 merged == logged))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rate", type=float, default=3000.0, help="requests/s of the run")
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="leave every process unpinned")
    args = parser.parse_args()
    where = Placement.of(os.cpu_count() or 1, not args.no_pin)
    expected = args.rate * parse_go_duration(args.duration)
    placed = (f"nginx (1 worker) on CPU {where.server}, the replicas on CPU {where.tool}"
              if where.server is not None else "unpinned")
    print(f"{args.replicas} replicas on one Redis, {args.rate:g} req/s for {args.duration}; "
          f"{placed}", flush=True)
    missed = False
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as name:
        tmp = Path(name)
        redis = RedisServer(tmp / "redis").start()
        nginx_dir = tmp / "nginx"
        nginx_dir.mkdir()
        port = free_port()
        nginx = run_nginx(nginx_dir, LOGGED.format(port=port, dir=nginx_dir), (port,),
                          workers=where.nginx_workers, cpus=where.server)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            ports = []
            for index in range(args.replicas):
                process, replica_port = start_replica(redis.url, tmp, index, where.tool)
                processes.append(process)
                ports.append(replica_port)
            time.sleep(2.0)  # every replica has announced itself live
            for round_number in range(1, args.rounds + 1):
                log = nginx_dir / "access.log"
                before = access_log_lines(log, settle=0.3)
                code, record, err = run_round(ports[0], args.replicas, args.rate, args.duration,
                                              f"http://127.0.0.1:{port}/")
                logged = access_log_lines(log) - before
                print(f"\nround {round_number}: loadtester load --via exited {code}"
                      + (f": {err}" if err else ""))
                rows = rows_of(record, logged, expected, args.replicas)
                width = max(len(row[0]) for row in rows)
                for what, measured, target, met in rows:
                    print(f"  {what:<{width}}  {measured:>22}  target {target:<16} "
                          f"{'ok' if met else 'MISSED'}")
                missed = missed or code != 0 or not all(row[3] for row in rows)
        finally:
            for process in processes:
                stop(process)
            stop(nginx)
            redis.stop()
        if missed:  # what the replicas said, before their directory goes
            for log_file in sorted(tmp.glob("replica-*.log")):
                tail = log_file.read_text(errors="replace").splitlines()[-5:]
                print(f"\n{log_file.name}:", *tail, sep="\n  ")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
