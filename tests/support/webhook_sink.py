"""A webhook receiver on loopback, in a thread: for tests and benches of real service processes.

It records each JSON body; with `hang_first` it leaves the first request unanswered (so that a
replica holds that delivery), and while `refuse` is set it answers 503 without recording.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookSink:
    """Bodies received, in order; `close()` answers a held request and stops."""

    def __init__(self, hang_first: bool = False) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.refuse = threading.Event()
        self._release = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if sink.refuse.is_set():
                    self.send_response(503)
                    self.end_headers()
                    return
                sink.bodies.append(body)
                if hang_first and len(sink.bodies) == 1:
                    sink._release.wait(120)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def messages(self) -> list[str]:
        return [str(body.get("message", body)) for body in self.bodies]

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
