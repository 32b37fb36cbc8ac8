"""Fake chat-tool receivers (every request recorded, answers chosen by the test) and event
payloads as Flagger posts them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Answer = tuple[int, dict[str, str], str]


@dataclass
class Received:
    """One request a fake receiver got."""

    path: str
    headers: dict[str, str]
    body: Any
    at: float
    raw: bytes = b""


@dataclass
class FakeReceiver:
    """An HTTP server that records every request and answers what `answer` says."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Answer] = lambda _r: (200, {}, "ok")
    delay: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests it was handling at once

    @property
    def bodies(self) -> list[Any]:
        return [request.body for request in self.requests]

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """Wait until at least `count` requests arrived."""
        deadline = time.monotonic() + within
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"got {len(self.requests)} requests, wanted {count}")
            await asyncio.sleep(0.02)
        return self.requests


def event(phase: str = "Progressing", message: str = "Advance podinfo.test canary weight 10",
          event_type: str = "Normal", name: str = "podinfo", namespace: str = "test",
          timestamp: int | None = None, **extra: str) -> dict[str, Any]:
    """A payload as Flagger posts it to an event webhook."""
    stamp = timestamp if timestamp is not None else time.time_ns() // 1_000_000
    return {"name": name, "namespace": namespace, "phase": phase, "checksum": "85d557f47b",
            "metadata": {"eventMessage": message, "eventType": event_type,
                         "timestamp": str(stamp), **extra}}
