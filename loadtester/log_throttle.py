"""A log line that a flood cannot multiply: a few lines per window, the rest counted."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from loadtester.logs import get_logger


class LogThrottle:
    """Writes at most `burst` lines of one event per `window` seconds.

    Events past the burst are counted; when the window ends, one line of the same event says
    how many there were (`suppressed`), and that line opens the next window, so a steady flood
    writes one line per window. Call from the event loop.
    """

    def __init__(self, event: str, *, burst: int, window: float,
                 level: int = logging.WARNING) -> None:
        self.event = event
        self._burst = burst
        self._window = window
        self._level = level
        self._window_end = 0.0
        self._written = 0
        self._suppressed = 0
        self._flush: asyncio.TimerHandle | None = None

    def log(self, **fields: Any) -> None:
        """One occurrence: a line now, or a count for the window's closing line."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._window_end and self._flush is None:
            self._window_end = now + self._window
            self._written = 0
        if self._written < self._burst:
            self._written += 1
            get_logger().log(self._level, self.event, **fields)
            return
        self._suppressed += 1
        if self._flush is None:
            self._flush = loop.call_at(self._window_end, self._close_window)

    def _close_window(self) -> None:
        self._flush = None
        if not self._suppressed:
            return
        get_logger().log(self._level, self.event, suppressed=self._suppressed,
                         window=self._window)
        self._suppressed = 0
        # the summary counts as the new window's lines: a steady flood gets one line a window
        self._window_end = asyncio.get_running_loop().time() + self._window
        self._written = self._burst

    def close(self) -> None:
        """Write the pending count now (at shutdown)."""
        if self._flush is not None:
            self._flush.cancel()
            self._close_window()
