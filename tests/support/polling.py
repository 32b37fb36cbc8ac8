"""Waiting for a condition in a test or fixture, with a deadline (never a speed threshold)."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], bool], within: float, what: str) -> float:
    """Seconds until `condition()` held, asked every 50 ms; AssertionError after `within`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.05)
    return time.monotonic() - started
