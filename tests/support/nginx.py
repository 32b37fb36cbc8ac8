"""A real nginx (Debian nginx-light) on a free port, with fixed answers per path and an access
log in the test's temporary directory: the server's own count of what it answered."""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

NGINX = Path("/usr/sbin/nginx")

# path -> (status, body): `return` answers, no files, no upstream
ANSWERS = {
    "/": (200, '{"status":"ok"}'),
    "/api/items": (200, '[{"id":1},{"id":2}]'),
    "/api/orders": (201, '{"order":"accepted"}'),
    "/down": (200, '{"status":"down"}'),
    "/broken": (503, "unavailable"),
    "/big": (200, "x" * 3000 + "needle"),
}

_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format counted '$msec $request_method $uri $status';
    access_log {dir}/access.log counted;
    log_format tls '$ssl_server_name $ssl_protocol $ssl_client_verify $status';
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port}{tls};
{locations}
    }}
}}
"""


class Nginx:
    """nginx started in ``folder``; ``url`` is its base URL (ending in /). With ``tls`` (a
    PEM certificate and key), it listens with ``ssl`` and ``url`` is https; ``client_ca``
    then requires a client certificate signed by it, ``protocols`` sets ``ssl_protocols``
    (``TLSv1.2``), and tls_log() reads the TLS side of each request. ``http2`` listens
    with ``http2`` too (with ``tls``: ALPN h2; without: h2c prior knowledge), allowing
    ``max_streams`` concurrent streams per connection (nginx's default 128)."""

    def __init__(self, folder: Path, tls: tuple[Path, Path] | None = None,
                 client_ca: Path | None = None, protocols: str | None = None,
                 http2: bool = False, max_streams: int | None = None) -> None:
        self.folder = folder
        self.scheme = "https" if tls is not None else "http"
        listen = ""
        if tls is not None:
            listen = (
                f" ssl;\n        ssl_certificate {tls[0]};\n        ssl_certificate_key {tls[1]}"
            )
            # a server's access_log replaces the inherited one: both logs, then
            listen += (f";\n        access_log {folder}/tls.log tls;\n"
                       f"        access_log {folder}/access.log counted")
            if client_ca is not None:
                listen += (f";\n        ssl_verify_client on;\n"
                           f"        ssl_client_certificate {client_ca}")
            if protocols is not None:
                listen += f";\n        ssl_protocols {protocols}"
        if http2:
            listen = " http2" + listen if tls is None else " ssl http2" + listen[4:]
            if max_streams is not None:
                listen += f";\n        http2_max_concurrent_streams {max_streams}"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        locations = "\n".join(f"        location = {path} {{ return {status} '{body}'; }}"
                              for path, (status, body) in ANSWERS.items())
        conf = folder / "nginx.conf"
        conf.write_text(_CONF.format(dir=folder, port=self.port, tls=listen, locations=locations))
        with (folder / "stderr.log").open("wb") as stderr:
            self.proc = subprocess.Popen(
                [str(NGINX), "-p", str(folder), "-c", str(conf)],
                stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        self._wait_listening()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10  # a guard against hanging, not a measurement
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.folder / "stderr.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("nginx did not start listening")

    def log(self) -> list[tuple[float, str, str, int]]:
        """(time, method, path, status) of each answered request, from the access log."""
        path = self.folder / "access.log"
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        return [(float(t), method, uri, int(status))
                for t, method, uri, status in (line.split() for line in lines)]

    def tls_log(self) -> list[tuple[str, str, str, int]]:
        """(SNI server name, protocol, client certificate verification, status) of each
        request over TLS (``-`` where there was none)."""
        path = self.folder / "tls.log"
        if not path.exists():
            return []
        return [(name, protocol, verify, int(status))
                for name, protocol, verify, status in
                (line.split() for line in path.read_text().splitlines())]

    def counts(self, total: int) -> Counter[str]:
        """Answered requests by ``METHOD path``, once ``total`` are logged: nginx writes a
        line just after its answer, so the client may have the answer first."""
        deadline = time.monotonic() + 5  # a guard against hanging, not a measurement
        log = self.log()
        while len(log) < total and time.monotonic() < deadline:
            time.sleep(0.01)
            log = self.log()
        return Counter(f"{method} {uri}" for _, method, uri, _ in log)

    def stop(self) -> None:
        """Stop nginx (its access log stays)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
