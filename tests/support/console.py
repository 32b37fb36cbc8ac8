"""The console's test support: Debian's chromium and chromedriver (when installed) and one
request to the real service with an optional bearer token."""

from __future__ import annotations

import http.client
import json
import os
import shutil
from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)
NO_BROWSER = ("needs Debian's chromium and chromium-driver "
              "(`scripts/ensure-deps --test` installs them)")
WAIT = 45  # generous: the pages poll every second, a loaded CI machine may be slow
# what a page that rebuilds its elements as its data changes makes selenium raise meanwhile
FLAKY = (StaleElementReferenceException, NoSuchElementException,
         ElementClickInterceptedException, ElementNotInteractableException)


def until(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    """condition's first truthy answer, polled (rows are rebuilt when their data changes)."""
    return WebDriverWait(driver, WAIT, poll_frequency=0.1, ignored_exceptions=FLAKY).until(
        condition, f"waited {WAIT}s for {what}")


def call(port: int, path: str, body: dict[str, Any] | None = None, *, method: str = "POST",
         token: str = "", timeout: float = 60) -> tuple[int, str]:
    """Status and body of one request to the service, as Flagger or a curl would send it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body),
                           headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()
