#!/usr/bin/env python3
"""A burst of simultaneous callers: how long /healthz takes when 200 connect at once.

    python bench/bench_burst.py                 # starts the service on a free port
    python bench/bench_burst.py --callers 500 --rounds 10
    python bench/bench_burst.py --port 9090     # a service already listening there

Each round opens `--callers` TCP connections to 127.0.0.1 at the same moment, sends
`GET /healthz` on each and reads the answer; a caller's time runs from its connect to the end
of the answer. Connections past the listening socket's backlog wait for a SYN retransmit
(1 s on Linux), which shows as a max near 1 000 ms. Prints p50, p99 and max over all callers
of all rounds, and the listening socket's backlog (`ss -ltn`, Send-Q) when `ss` is there.
Target: max < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, free_port, percentile, service_env, wait_healthy

TARGET_MAX_MS = 100.0
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def listen_backlog(port: int) -> str:
    """The Send-Q column of `ss -ltn` for the port: a listening socket's backlog."""
    if shutil.which("ss") is None:
        return "?"
    lines = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                           text=True, check=False).stdout.splitlines()
    return lines[0].split()[2] if lines else "?"


async def _connected(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    writable = loop.create_future()
    loop.add_writer(sock, writable.set_result, None)
    try:
        await writable
    finally:
        loop.remove_writer(sock)
    if error := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
        raise OSError(error, os.strerror(error))


async def _answer(sock: socket.socket, started: float) -> float:
    loop = asyncio.get_running_loop()
    with sock:
        await _connected(sock)
        await loop.sock_sendall(sock, REQUEST)
        while await loop.sock_recv(sock, 65536):
            pass
    return (time.perf_counter() - started) * 1000


async def burst(port: int, callers: int) -> list[float]:
    """Every caller's SYN leaves in one tight loop, before any answer is read."""
    pending = []
    for _ in range(callers):
        sock = socket.socket()
        sock.setblocking(False)
        started = time.perf_counter()
        sock.connect_ex(("127.0.0.1", port))  # EINPROGRESS: the handshake goes on alone
        pending.append(_answer(sock, started))
    return list(await asyncio.gather(*pending))


def measure(port: int, callers: int, rounds: int) -> list[float]:
    times: list[float] = []
    for _ in range(rounds):
        times += asyncio.run(burst(port, callers))
        time.sleep(0.2)  # let the previous round's connections leave TIME_WAIT's way
    return sorted(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, help="measure a service already listening here")
    args = parser.parse_args()
    service: subprocess.Popen[bytes] | None = None
    port = args.port
    with tempfile.TemporaryDirectory() as state:
        if port is None:
            port = free_port()
            service = subprocess.Popen(
                [sys.executable, "-m", "loadtester", f"-port={port}", f"-state={state}",
                 "-log-level=error"], cwd=REPO, env=service_env())
        try:
            wait_healthy(port)
            times = measure(port, args.callers, args.rounds)
            backlog = listen_backlog(port)
        finally:
            if service is not None:
                service.terminate()
                service.wait(timeout=30)
    p99 = percentile(times, 0.99)
    somaxconn = Path("/proc/sys/net/core/somaxconn").read_text().strip()
    print(f"{args.callers} simultaneous callers x {args.rounds} rounds, GET /healthz "
          f"(listen backlog {backlog}, somaxconn {somaxconn})")
    print(f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'target':>10}")
    print(f"{statistics.median(times):8.1f} {p99:8.1f} {times[-1]:8.1f} "
          f"{'< ' + format(TARGET_MAX_MS, '.0f') + ' ms':>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
