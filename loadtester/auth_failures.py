"""Failed logins and token checks, counted per client address: past FAILURES_ALLOWED within
WINDOW_SECONDS, the address gets `429` with Retry-After until its window ends, even with a
right token, so guessing gains nothing.

Kept in this process's memory (each replica counts its own), for at most MAX_PEERS addresses,
the least recently failed forgotten first. An IPv6 client is counted by its /64, which one
host can fill with addresses at will. A webhook's token failures count for the address and the
payload's namespace: every Canary calls from Flagger's one address, and a Canary with a stale
token must not shut out the others.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable

FAILURES_ALLOWED = 20
WINDOW_SECONDS = 60.0
MAX_PEERS = 10_000

Clock = Callable[[], float]


class FailureThrottle:
    """Per-peer failure counts in fixed windows that start at a peer's first failure."""

    def __init__(self, *, allowed: int = FAILURES_ALLOWED, window: float = WINDOW_SECONDS,
                 max_peers: int = MAX_PEERS, clock: Clock = time.monotonic) -> None:
        self._allowed = allowed
        self._window = window
        self._max_peers = max_peers
        self._clock = clock
        self._peers: OrderedDict[str, tuple[float, int]] = OrderedDict()  # start, failures
        self._blocking_until = -math.inf  # no peer is shut out after this

    def shutting_out(self) -> bool:
        """Whether any peer may be shut out now (the hot path: usually none is)."""
        return self._clock() < self._blocking_until

    def retry_after(self, peer: str, scope: str = "") -> int:
        """Seconds until `peer` may try again (for `scope`: see InvalidCredentials); 0 when it
        may now."""
        now = self._clock()
        if now >= self._blocking_until:
            return 0
        start, failures = self._peers.get(_subject(peer, scope), (0.0, 0))
        end = start + self._window
        if failures < self._allowed or now >= end:
            return 0
        return max(1, math.ceil(end - now))

    def failed(self, peer: str, scope: str = "") -> None:
        """Count one failure of `peer` (for `scope`)."""
        now = self._clock()
        subject = _subject(peer, scope)
        start, failures = self._peers.pop(subject, (now, 0))
        if now >= start + self._window:
            start, failures = now, 0
        self._peers[subject] = (start, failures + 1)
        if failures + 1 >= self._allowed:
            self._blocking_until = max(self._blocking_until, start + self._window)
        while len(self._peers) > self._max_peers:
            self._peers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._peers)


def _subject(peer: str, scope: str) -> str:
    """What is counted: the address, or an IPv6 address's /64, and the scope."""
    if ":" in peer:
        with contextlib.suppress(ValueError):
            peer = str(ipaddress.IPv6Network(f"{peer}/64", strict=False))
    return f"{peer} {scope}" if scope else peer
