"""A real Alertmanager: a failed canary raises an alert, a succeeded one resolves it."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.events import event

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="prometheus-alertmanager is not installed (apt-get install "
    "prometheus-alertmanager)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager on a free loopback port, stopped after the test."""
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
    port = _free_port()
    assert BINARY is not None
    process = subprocess.Popen(
        [BINARY, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("alertmanager did not start: "
                                       + (process.stderr.read().decode() if process.stderr
                                          else "")) from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


async def _alerts(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(
        f"{url}/api/v2/alerts", params={"filter": 'canary="podinfo"'}
    ) as answer:
        assert answer.status == 200
        alerts: list[dict[str, Any]] = await answer.json()
        return alerts


async def _wait(url: str, wanted: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        alerts = await _alerts(url)
        if len(alerts) == wanted or time.monotonic() > deadline:
            return alerts
        await asyncio.sleep(0.1)


async def test_failed_canary_fires_and_succeeded_resolves(alertmanager: str,
                                                          make_client: Any) -> None:
    """Phase Failed raises alertname/canary/namespace/severity; Succeeded resolves it."""
    client = await make_client(alertmanager_url=alertmanager)
    progressing = event(message="Advance podinfo.test canary weight 10")
    assert (await client.post("/events", json=progressing)).status == 202
    failed = event(phase="Failed", event_type="Warning",
                   message="Canary failed! Scaling down podinfo.test")
    assert (await client.post("/events", json=failed)).status == 202
    (alert,) = await _wait(alertmanager, 1)
    assert alert["labels"] == {"alertname": "FlaggerCanaryAlert", "canary": "podinfo",
                               "namespace": "test", "severity": "critical"}
    assert alert["annotations"]["description"] == "Canary failed! Scaling down podinfo.test"
    assert alert["status"]["state"] in ("active", "unprocessed")

    succeeded = event(phase="Succeeded", message="Promotion completed! Scaling down podinfo.test")
    assert (await client.post("/events", json=succeeded)).status == 202
    assert await _wait(alertmanager, 0) == []


async def test_warning_event_fires_a_warning_alert(alertmanager: str, make_client: Any) -> None:
    """A Warning event during the analysis fires a severity=warning alert."""
    client = await make_client(alertmanager_url=alertmanager)
    halt = event(event_type="Warning", message="Halt podinfo.test advancement pod not ready")
    assert (await client.post("/events", json=halt)).status == 202
    (alert,) = await _wait(alertmanager, 1)
    assert alert["labels"]["severity"] == "warning"
