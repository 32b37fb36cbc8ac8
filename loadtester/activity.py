"""What the service saw of each canary, written to the CanaryHistory without slowing the calls.

Flagger calls a canary's gates and tasks every analysis interval; the console needs only what
changed. A sighting is written when the canary's phase or checksum differs from the last one
written, or REFRESH_SECONDS after it; any other call costs a dictionary lookup. The same
resource prunes the history and the audit log every PRUNE_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from loadtester.errors import StoreUnavailable
from loadtester.logs import get_logger
from loadtester.state.base import Sighting, State

REFRESH_SECONDS = 30.0
PRUNE_SECONDS = 3600.0
_MAX_REMEMBERED = 10_000  # canaries whose last sighting is remembered here


@dataclass(frozen=True)
class _Written:
    phase: str
    checksum: str
    at: float


class Activity:
    """Records sightings of canaries, debounced per canary."""

    def __init__(self, state: State, refresh: float = REFRESH_SECONDS) -> None:
        self._state = state
        self._refresh = refresh
        self._written: dict[tuple[str, str], _Written] = {}
        self._warned = False

    async def seen(self, name: str, namespace: str, phase: str, checksum: str,
                   source: str) -> None:
        """A call named this canary; written to the store if it tells something new."""
        if not name or not namespace:  # Go's endpoints accept a payload naming no canary
            return
        now = time.time()
        key = (name, namespace)
        last = self._written.get(key)
        if (last is not None and now - last.at < self._refresh
                and phase in ("", last.phase) and checksum in ("", last.checksum)):
            return
        try:
            await self._state.history.seen(Sighting(name, namespace, phase, checksum, source,
                                                    now))
        except StoreUnavailable as exc:
            if not self._warned:  # once per outage; the call itself goes on
                get_logger(canary=name, namespace=namespace).warning(
                    "canary activity not recorded", error=exc.message)
                self._warned = True
            return
        self._warned = False
        if len(self._written) >= _MAX_REMEMBERED and key not in self._written:
            self._forget_stale(now)
        self._written[key] = _Written(phase or (last.phase if last else ""),
                                      checksum or (last.checksum if last else ""), now)

    def _forget_stale(self, now: float) -> None:
        stale = [key for key, last in self._written.items() if now - last.at >= self._refresh]
        for key in stale:
            del self._written[key]
        if len(self._written) >= _MAX_REMEMBERED:  # all fresh: start over rather than grow
            self._written.clear()

    async def prune(self, now: float | None = None) -> None:
        """Forget canaries, task records and audit entries older than KEEP_HISTORY."""
        when = time.time() if now is None else now
        await self._state.history.prune(when)
        await self._state.audit.prune(when)


@asynccontextmanager
async def open_activity(state: State) -> AsyncIterator[Activity]:
    """The recorder, and its pruning every PRUNE_SECONDS (the first right away)."""
    activity = Activity(state)
    pruner = asyncio.ensure_future(_prune_forever(activity))
    try:
        yield activity
    finally:
        pruner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pruner


async def _prune_forever(activity: Activity) -> None:
    while True:
        try:
            await activity.prune()
        except StoreUnavailable as exc:
            get_logger().warning("history not pruned; trying again later", error=exc.message)
        except Exception:  # a bug: keep serving, try again later
            get_logger().exception("history pruning failed")
        await asyncio.sleep(PRUNE_SECONDS)
