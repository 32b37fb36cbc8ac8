"""What the service saw of each canary, written to the CanaryHistory without slowing the calls.

Flagger calls a canary's gates and tasks every analysis interval; the console needs only what
changed. A sighting is written when the canary's phase or checksum differs from the last one
written, or REFRESH_SECONDS after it; any other call costs a dictionary lookup. The same
resource prunes the history and the audit log every PRUNE_SECONDS.

A canary not in the history yet must first be admitted: each account (a token, or every
caller without -token-file) may name `max_canaries` distinct new canaries a day; past that
the call answers 429 (TooManyCanaries), while canaries already seen keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from loadtester.errors import StoreUnavailable, TooManyCanaries
from loadtester.logs import get_logger
from loadtester.state.admission import GLOBAL_ACCOUNT, day_of
from loadtester.state.base import Sighting, State

REFRESH_SECONDS = 30.0
PRUNE_SECONDS = 3600.0
_MAX_REMEMBERED = 10_000  # canaries whose last sighting is remembered here
MAX_CANARIES = 10_000  # -max-canaries' default


@dataclass(frozen=True)
class _Written:
    phase: str
    checksum: str
    at: float


class Activity:
    """Records sightings of canaries, debounced per canary."""

    def __init__(self, state: State, refresh: float = REFRESH_SECONDS,
                 max_canaries: int = MAX_CANARIES) -> None:
        self._state = state
        self._refresh = refresh
        self._max_canaries = max_canaries
        self._written: dict[tuple[str, str], _Written] = {}
        self._warned = False
        self._refused: set[tuple[str, int]] = set()  # (account, day) whose refusal was logged

    async def seen(self, name: str, namespace: str, phase: str, checksum: str,
                   source: str, account: str = GLOBAL_ACCOUNT) -> None:
        """A call named this canary; written to the store if it tells something new.

        TooManyCanaries when the canary is new and `account` named max_canaries others today.
        """
        if not name or not namespace:  # Go's endpoints accept a payload naming no canary
            return
        now = time.time()
        key = (name, namespace)
        last = self._written.get(key)
        if (last is not None and now - last.at < self._refresh
                and phase in ("", last.phase) and checksum in ("", last.checksum)):
            return
        if last is None:  # else written by this replica, so admitted already
            await self._admit(name, namespace, account, now)
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

    async def _admit(self, name: str, namespace: str, account: str, now: float) -> None:
        """Return if the canary is known or within the account's budget of the day; raise
        TooManyCanaries otherwise. A store that does not answer admits (as seen() goes on)."""
        day = day_of(now)
        try:
            if await self._state.history.canary(name, namespace) is not None:
                return
            if await self._state.admission.admit(account, name, namespace, day,
                                                 self._max_canaries):
                return
        except StoreUnavailable:
            return
        if (account, day) not in self._refused:  # logged once per account and day
            self._refused = {seen for seen in self._refused if seen[1] == day}
            self._refused.add((account, day))
            get_logger(canary=name, namespace=namespace).warning(
                "canary limit reached: new canaries refused until the next UTC day",
                account=account, max_canaries=self._max_canaries)
        who = "the callers" if account == GLOBAL_ACCOUNT else f"the token ({account})"
        raise TooManyCanaries(f"too many canaries: {who} named {self._max_canaries} new "
                              "canaries today (-max-canaries); canaries already seen still work")

    def _forget_stale(self, now: float) -> None:
        stale = [key for key, last in self._written.items() if now - last.at >= self._refresh]
        for key in stale:
            del self._written[key]
        if len(self._written) >= _MAX_REMEMBERED:  # all fresh: start over rather than grow
            self._written.clear()

    async def prune(self, now: float | None = None) -> None:
        """Forget canaries, task records, load runs and audit entries older than KEEP_HISTORY."""
        when = time.time() if now is None else now
        await self._state.history.prune(when)
        await self._state.audit.prune(when)
        await self._state.runs.prune(when)
        await self._state.admission.prune(day_of(when))


@asynccontextmanager
async def open_activity(state: State,
                        max_canaries: int = MAX_CANARIES) -> AsyncIterator[Activity]:
    """The recorder, and its pruning every PRUNE_SECONDS (the first right away)."""
    activity = Activity(state, max_canaries=max_canaries)
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
