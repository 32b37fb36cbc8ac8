#!/usr/bin/env python3
"""Start-up of `loadtester load` beside hey: one request, wall time from exec to exit.

    python bench/bench_cli.py             # 10 runs of each
    python bench/bench_cli.py --runs 20

Starts nginx (Debian nginx-light, ``return 200``) from a temporary directory on 127.0.0.1, as
bench_load.py does, or a small threaded HTTP server in this process when nginx is missing.
Then runs `loadtester load -n 1 -c 1 URL` (the venv's console script), `python -m
loadtester.loadgen.cli -n 1 -c 1 URL` and `hey -n 1 -c 1 URL` alternately, each ``--runs``
times, and prints the median, fastest and slowest wall time of each, and the ratio of
medians to hey's. Target (issue 9): `loadtester load` under 300 ms on an idle machine. It
measures; the exit code is 1 only when a run fails or the target is missed.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_load import start_nginx, stop  # noqa: E402

TARGET_SECONDS = 0.3


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


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
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", "python http.server"
    finally:
        server.shutdown()
        server.server_close()


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
    ours = statistics.median(times.get("loadtester load") or times[next(iter(times))])
    verdict = "met" if ours < TARGET_SECONDS else "MISSED"
    print(f"target: `loadtester load` under {TARGET_SECONDS * 1000:.0f} ms: {verdict}")
    return 0 if ours < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
