#!/usr/bin/env python3
"""Start-up of `loadtester load` beside hey: one request, wall time from exec to exit.

    python bench/bench_cli.py             # 10 runs of each
    python bench/bench_cli.py --runs 20

Starts nginx (Debian nginx-light, ``return 200``) from a temporary directory on 127.0.0.1, as
bench_load.py does, or a small threaded HTTP server in this process when nginx is missing.
Then runs `loadtester load -n 1 -c 1 URL` (the venv's console script), `python -m
loadtester.loadgen.cli -n 1 -c 1 URL` and `hey -n 1 -c 1 URL` alternately, each ``--runs``
times, and prints the median, fastest and slowest wall time of each, and the ratio of
medians to hey's. Target: `loadtester load` under 300 ms on an idle machine.
Then, for a run big enough for worker processes (`-z 2s -c 4`), the time from exec to the
first request a local server sees: the first requests leave from the CLI's own process while
the workers start. It measures; the exit code is 1 only when a run fails or the
target is missed.
"""

from __future__ import annotations

import argparse
import http.server
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import REPO, start_nginx, stop

TARGET_SECONDS = 0.3


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    first_request = 0.0  # time.time() of the first request since the last reset

    def do_GET(self) -> None:
        if not _Handler.first_request:
            _Handler.first_request = time.time()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def python_server() -> Iterator[str]:
    """The URL of a threaded server in this process that notes its first request."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def first_request(argv: list[str], url: str) -> float:
    """Seconds from exec to the first request of a `-z 2s -c 4` run."""
    _Handler.first_request = 0.0
    start = time.time()
    done = subprocess.run([*argv, "-z", "2s", "-c", "4", url], capture_output=True,
                          check=False, cwd=REPO)  # fmt: skip
    if done.returncode != 0 or not _Handler.first_request:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return _Handler.first_request - start


@contextmanager
def target() -> Iterator[tuple[str, str]]:
    """The URL of a local server and what it is."""
    if Path("/usr/sbin/nginx").exists():
        with tempfile.TemporaryDirectory() as tmp:
            proc, url = start_nginx(Path(tmp))
            try:
                yield url, "nginx"
            finally:
                stop(proc)
        return
    with python_server() as url:
        yield url, "python http.server"


def timed(argv: list[str]) -> float:
    """Wall time of one run (seconds); raises when it fails."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False, cwd=REPO)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or b"[200]" not in done.stdout:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "loadtester"
    tools: dict[str, list[str]] = {}
    if script.exists():
        tools["loadtester load"] = [str(script), "load"]
    tools["python -m loadtester.loadgen.cli"] = [sys.executable, "-m", "loadtester.loadgen.cli"]
    if shutil.which("hey"):
        tools["hey"] = ["hey"]
    times: dict[str, list[float]] = {name: [] for name in tools}
    with target() as (url, server):
        for argv in tools.values():  # warm the page cache once
            timed([*argv, "-n", "1", "-c", "1", url])
        for _ in range(args.runs):
            for name, argv in tools.items():
                times[name].append(timed([*argv, "-n", "1", "-c", "1", url]))
    print(f"-n 1 -c 1 against {server} on 127.0.0.1, {args.runs} runs each, wall time")
    print(f"{'tool':<34} {'median':>9} {'fastest':>9} {'slowest':>9} {'x hey':>7}")
    hey = statistics.median(times["hey"]) if "hey" in times else None
    for name, values in times.items():
        median = statistics.median(values)
        ratio = f"{median / hey:6.1f}x" if hey else "      -"
        print(f"{name:<34} {median * 1000:7.1f}ms {min(values) * 1000:7.1f}ms "
              f"{max(values) * 1000:7.1f}ms {ratio}")  # fmt: skip
    firsts: dict[str, list[float]] = {name: [] for name in tools}
    with python_server() as url:
        for _ in range(max(args.runs // 2, 3)):
            for name, argv in tools.items():
                firsts[name].append(first_request(argv, url))
    print(f"\n-z 2s -c 4 (worker processes), {len(firsts['hey' if 'hey' in firsts else name])} "
          f"runs each: exec to the first request the server sees")
    print(f"{'tool':<34} {'median':>9} {'fastest':>9} {'slowest':>9}")
    for name, values in firsts.items():
        print(f"{name:<34} {statistics.median(values) * 1000:7.1f}ms "
              f"{min(values) * 1000:7.1f}ms {max(values) * 1000:7.1f}ms")
    ours = statistics.median(times.get("loadtester load") or times[next(iter(times))])
    verdict = "met" if ours < TARGET_SECONDS else "MISSED"
    print(f"target: `loadtester load` under {TARGET_SECONDS * 1000:.0f} ms: {verdict}")
    return 0 if ours < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
