"""Calls of the JSON API and webhook payloads shared by the API tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

GATE = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "abc"}


async def call(client: Any, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """Status and decoded JSON (or text, when it is not JSON) of one request."""
    data = None if body is None else body if isinstance(body, str | bytes) else json.dumps(body)
    sent = {"Content-Type": "application/json", **(headers or {})} if data is not None else headers
    async with client.request(method, path, data=data, headers=sent) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def webhook(client: Any, path: str, payload: dict[str, Any],
                  headers: dict[str, str] | None = None) -> int:
    """Status of one webhook call (a gate check, a task, an event) as Flagger sends it."""
    async with client.post(path, data=json.dumps(payload), headers=headers) as response:
        return int(response.status)


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 15.0) -> T:
    """The first truthy result of `check`, polled until `within` seconds passed."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: last result {result!r}")
        await asyncio.sleep(0.05)


def is_rfc3339(stamp: Any) -> bool:
    """A UTC time string as the API writes it: 2024-05-01T12:00:00.000Z."""
    return isinstance(stamp, str) and stamp.endswith("Z") and "T" in stamp
