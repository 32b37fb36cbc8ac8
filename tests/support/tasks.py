"""Webhook payloads as Flagger posts them to the task endpoint, one POST, and waiting for the
app's background runs to end."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from loadtester.keys import RUNNER


def payload(metadata: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """A webhook payload as Flagger posts it."""
    body: dict[str, Any] = {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "85d557f47b",
        **fields,
    }
    if metadata is not None:
        body["metadata"] = metadata
    return body


async def post(client: Any, body: dict[str, Any], path: str = "/") -> tuple[int, str]:
    """Status and body of one POST."""
    async with client.post(path, data=json.dumps(body)) as response:
        return response.status, await response.text()


async def wait_idle(client: Any) -> None:
    """Wait until the app's runner has no background run in progress."""
    for running in client.server.app[RUNNER].running:
        await asyncio.gather(running.future, return_exceptions=True)
    await asyncio.sleep(0)
