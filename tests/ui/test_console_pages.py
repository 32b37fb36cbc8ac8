"""The console's canary list in pages, in a real browser against the real
service: 50 canaries a page, "Older canaries" follows the API's `next`, "Newer" goes back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.console import HAVE_BROWSER, NO_BROWSER, call, until
from tests.support.service import StartService

pytestmark = [pytest.mark.system, pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER)]


def shown(driver: WebDriver) -> list[str]:
    """The canary ids of the rows on the page, top to bottom."""
    return [str(row.get_attribute("data-canary"))
            for row in driver.find_elements(By.CSS_SELECTOR, "#canary-rows tr")]


def test_console_pages_through_53_canaries(browser: WebDriver, start_service: StartService,
                                           tmp_path: Path,
                                           browser_errors: Callable[[], list[str]]) -> None:
    """53 canaries: the first page shows the 50 seen last and "Older canaries"; it leads to
    the other 3 and "Newer canaries" back to the first 50."""
    service = start_service(f"-state={tmp_path / 'state'}", "-log-level=info")
    service.wait_healthy()
    for number in range(53):
        body = {"name": f"app-{number:02d}", "namespace": "test", "phase": "Progressing",
                "checksum": "rev-1"}
        assert call(service.port, "/gate/check", body) == (403, "Forbidden")
    newest = [f"app-{number:02d}.test" for number in reversed(range(53))]
    browser.get(f"http://127.0.0.1:{service.port}/ui/")
    until(browser, lambda d: shown(d) == newest[:50], "the first page")
    older, newer = browser.find_element(By.ID, "older"), browser.find_element(By.ID, "newer")
    assert older.is_displayed() and not newer.is_displayed()
    assert browser.find_element(By.ID, "count").text == "(1\u201350 of more)"
    older.click()
    until(browser, lambda d: shown(d) == newest[50:], "the second page")
    assert newer.is_displayed() and not older.is_displayed()
    assert browser.find_element(By.ID, "count").text == "(51\u201353)"
    newer.click()
    until(browser, lambda d: shown(d) == newest[:50], "the first page again")
    assert browser_errors() == []
