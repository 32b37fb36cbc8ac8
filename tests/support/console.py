"""The console's test support: Debian's chromium and chromedriver (when installed) and one
request to the real service with an optional bearer token."""

from __future__ import annotations

import http.client
import json
import os
import shutil
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)
NO_BROWSER = ("needs Debian's chromium and chromium-driver "
              "(`scripts/ensure-deps --test` installs them)")


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
