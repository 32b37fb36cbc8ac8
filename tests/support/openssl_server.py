"""``openssl s_server`` requiring a client certificate: unlike nginx (which completes the
handshake and answers 400), it refuses a missing or unknown certificate with a TLS alert."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from tests.support.certs import Pair


class OpensslServer:
    """``openssl s_server -www`` on a free port of 127.0.0.1, verifying clients against
    ``client_ca``; ``tls13`` false limits it to TLS 1.2."""

    def __init__(self, folder: Path, server: Pair, client_ca: Path, tls13: bool = True) -> None:
        self.folder = folder
        self.tls13 = tls13
        version = "-tls1_3" if tls13 else "-tls1_2"
        self.out = folder / "s_server.out"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(server.cert),
                 "-key", str(server.key), "-CAfile", str(client_ca), "-Verify", "1",
                 "-verify_return_error", "-www", version],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            self.port = self._wait_port()
        except RuntimeError:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def _wait_port(self) -> int:
        deadline = time.monotonic() + 10  # a guard against hanging, not a measurement
        while time.monotonic() < deadline:
            found = re.search(r"ACCEPT 127\.0\.0\.1:(\d+)", self.out.read_text())
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(self.out.read_text())
            time.sleep(0.02)
        raise RuntimeError("openssl s_server did not start listening")

    def stop(self) -> None:
        """Stop the server."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(5)
