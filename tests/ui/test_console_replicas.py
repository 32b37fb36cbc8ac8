"""A run spread over replicas on the canary page, in a real browser (headless chromium through
selenium) against the real service process: each share's replica, requests and state."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from loadtester.settings import Settings
from loadtester.state.open import open_state
from tests.support.console import HAVE_BROWSER, NO_BROWSER, call, until
from tests.support.service import StartService

pytestmark = [pytest.mark.system, pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER)]

# the shape of a distributed run's summary.replicas (tasks/load: the receiving replica's merge)
REPLICAS: list[dict[str, Any]] = [
    {"replica": "pod-a/7", "share": 0, "shares": 3, "requests": 20, "state": "done"},
    {"replica": "pod-b/8", "share": 1, "shares": 3, "requests": 20, "state": "done"},
    {"replica": "pod-c/9", "share": 2, "shares": 3, "requests": 10, "state": "lost",
     "reason": "share 3/3 lost: replica pod-c/9 stopped answering; 50 % of the schedule sent"},
]


async def _with_replicas(state: Path) -> None:
    """Give the canary's one kept run the replicas of a distributed run."""
    async with open_state(Settings(state=str(state), load_workers=1)) as opened:
        (run_id,) = await opened.runs.ids("podinfo", "test")
        run = await opened.runs.run("podinfo", "test", run_id)
        assert run is not None
        await opened.runs.record(dataclasses.replace(
            run, summary={**run.summary, "replicas": REPLICAS}))


def test_a_distributed_run_shows_its_replicas(
    browser: WebDriver, browser_errors: Callable[[], list[str]], start_service: StartService,
    tmp_path: Path,
) -> None:
    """A run whose record carries `replicas` shows a row per share: its replica, its
    requests and part of the run, its state (a lost share with its reason)."""
    state = tmp_path / "state"
    service = start_service(f"-state={state}")
    service.wait_healthy()
    load = {"type": "load", "url": f"http://127.0.0.1:{service.port}/healthz",
            "requests": "10", "concurrency": "2", "wait": "true"}
    status, text = call(service.port, "/", {"name": "podinfo", "namespace": "test",
                                            "phase": "Progressing", "checksum": "abc",
                                            "metadata": load})
    assert status == 200, text
    assert service.stop() == 0
    asyncio.run(_with_replicas(state))
    service = start_service(f"-state={state}")
    service.wait_healthy()
    browser.get(f"http://127.0.0.1:{service.port}/ui/canary/test/podinfo")
    table = until(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#runs table.replicas"),
                  "the run's replicas")
    assert table.get_attribute("data-replicas") == "3"
    assert "3 replicas took part, 1 share not done" in table.text
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert cells[0] == ["1/3", "pod-a/7", "20 (40.0 %)", "done"]
    assert cells[1] == ["2/3", "pod-b/8", "20 (40.0 %)", "done"]
    assert cells[2][:3] == ["3/3", "pod-c/9", "10 (20.0 %)"]
    assert cells[2][3].startswith("lost share 3/3 lost: replica pod-c/9 stopped answering")
    assert [row.get_attribute("data-state") for row in rows] == ["done", "done", "lost"]
    assert browser_errors() == []
