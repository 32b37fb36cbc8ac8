"""Headless Debian chromium driven through selenium, and the real service as a subprocess."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.console import CHROMEDRIVER, CHROMIUM


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless chromium (no cookies from another test), quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1500,1000", "--lang=en-US"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser_errors(browser: Any) -> Callable[[], list[str]]:
    """The page's console errors so far (a script error, a CSP violation), noise left out."""

    def errors() -> list[str]:
        return [entry["message"] for entry in browser.get_log("browser")
                if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
                # a failed request is the page's to show; the test checks what it shows
                and "Failed to load resource" not in entry["message"]]

    return errors


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """Two tokens: `admin` for every namespace, `shopper` for namespace shop only."""
    path = tmp_path / "tokens"
    path.write_text("* admin-secret-0123456789 admin\nshop shop-secret-0123456789 shopper\n")
    return path
