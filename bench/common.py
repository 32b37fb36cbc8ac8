"""What the bench scripts share: the checkout on sys.path (so `loadtester` and `tests.support`
import from it), free ports, the service and nginx as processes (nginx optionally pinned
with taskset), a self-signed certificate, wrk's and h2load's output, percentiles.

Every script runs as `python bench/<name>.py`, which puts this directory on sys.path, so
`import common` finds this module; importing it is the only sys.path set-up a script needs.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    log_format stamps '$msec $request_method $uri $status';
{servers}
}}
"""
RETURN_200 = """
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200; }}
    }}"""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, within: float = 10.0) -> None:
    """Return once something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def healthy(port: int, path: str = "/healthz") -> bool:
    """Whether one GET of `path` answers 200 (False when nothing answers)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def wait_healthy(port: int, within: float = 20.0) -> None:
    """Return once /healthz answers 200; exit the script when it does not in time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if healthy(port):
            return
        time.sleep(0.05)
    raise SystemExit(f"no 200 from /healthz on port {port} within {within} s")


def service_env() -> dict[str, str]:
    """This process's environment with the checkout on PYTHONPATH, for `python -m loadtester`."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; nothing when it already ended."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    """argv under `taskset -c cpus` (it and its children on those CPUs); argv when None."""
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def run_nginx(workdir: Path, servers: str, ports: tuple[int, ...], workers: str = "auto",
              cpus: str | None = None) -> subprocess.Popen[bytes]:
    """nginx with the given `server` blocks and `workers` worker processes (on `cpus` when
    given), once it listens on each of `ports`."""
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, servers=servers, workers=workers))
    proc = subprocess.Popen(
        pinned(["/usr/sbin/nginx", "-p", str(workdir), "-c", str(conf)], cpus),
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "stderr.log").open("wb"),
    )
    for port in ports:
        wait_port(port)
    return proc


def start_nginx(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nginx answering `200` to everything; its URL."""
    port = free_port()
    proc = run_nginx(workdir, RETURN_200.format(port=port), (port,))
    return proc, f"http://127.0.0.1:{port}/"


def parse_wrk(out: str) -> tuple[int, float]:
    """Requests and requests/s of wrk's report."""
    total = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not total or not rate:
        raise RuntimeError(f"cannot read wrk output: {out!r}")
    return int(total.group(1)), float(rate.group(1))


def nginx_requests(port: int) -> int:
    """nginx's count of requests served so far (stub_status on 127.0.0.1:port, this one too)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    counts = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.MULTILINE)
    if not counts:
        raise RuntimeError(f"cannot read nginx stub_status: {text!r}")
    return int(counts.group(3))


def parse_h2load(out: str) -> tuple[int, float]:
    """Succeeded requests and requests/s of h2load's report (`finished in 3.00s, N req/s`,
    `requests: N total, N started, N done, N succeeded, ...`)."""
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    if not rate or not done:
        raise RuntimeError(f"cannot read h2load output: {out[-500:]!r}")
    return int(done.group(1)), float(rate.group(1))


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    """A self-signed RSA 2048 certificate for 127.0.0.1 and its key (openssl CLI), in workdir."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def percentile(values: Sequence[float], share: float) -> float:
    """The value at rank int(n * share) of the sorted values (the largest for share 1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]
