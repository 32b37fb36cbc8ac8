"""A scenario compiled for the engine (:class:`Mix`): pre-built requests with their checks, the
endpoints they connect to, and the order they are sent in (:func:`interleave`).

The mix sends request *g* of the run (counting over all workers) as ``order[g % len(order)]``,
an interleaving in which every prefix holds each request's share to within one request.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import reduce

from loadtester.loadgen.results.thresholds import Thresholds

__all__ = ["BODY_CHECK_CAP", "Endpoint", "Mix", "MixRequest", "interleave"]

BODY_CHECK_CAP = 64 * 1024  # a body check reads at most this much of each answer's body
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a request's connections go; requests to different endpoints never share one."""

    host: str
    port: int
    tls: bool
    server_name: str | None


@dataclass(frozen=True, slots=True)
class MixRequest:
    """One request of a mix, pre-built, with its checks."""

    name: str  # its key in results and metrics: the given name, else METHOD PATH
    url: str
    method: str
    data: bytes
    endpoint: int
    weight: int
    status: frozenset[int] | None = None
    body: re.Pattern[bytes] | None = None
    early: bool = False  # the body regexp may be tried on the body read so far
    max_latency_us: int = 0  # 0: no latency check
    checks: tuple[tuple[str, str], ...] = ()  # (kind, "check body /x/ failed")
    thresholds: Thresholds | None = None

    @property
    def head(self) -> bool:
        """A HEAD answer has no body whatever its headers say."""
        return self.method == "HEAD"

    @property
    def idempotent(self) -> bool:
        """Sent again once when a reused connection closes before any answer byte."""
        return self.method in _IDEMPOTENT


@dataclass(frozen=True, slots=True)
class Mix:
    """The compiled requests, their endpoints and the order they are sent in."""

    requests: tuple[MixRequest, ...]
    endpoints: tuple[Endpoint, ...]
    order: bytes  # request indexes, one period of the interleaving

    def thresholds(self) -> dict[str, Thresholds]:
        """Per-request thresholds by request name."""
        return {r.name: r.thresholds for r in self.requests if r.thresholds is not None}



def interleave(weights: list[int]) -> list[int]:
    """One period of a sequence of indexes in which every prefix of length m holds index k
    ``m * w_k / W`` times to within one (Tijdeman's chairman assignment: among the requests
    that may go without running ahead of their share, the one whose share is due first)."""
    divisor = reduce(math.gcd, weights)
    w = [x // divisor for x in weights]
    total = sum(w)
    n = len(w)
    scale = 2 * (n - 1) if n > 1 else 1  # Tijdeman's margin is 1 / (2(n-1))
    counts = [0] * n
    order = []
    for m in range(1, total + 1):
        best = -1
        for k in range(n):
            # may go: (counts+1) <= m*w/W + 1 - 1/scale, in integers
            if (counts[k] + 1) * total * scale > m * w[k] * scale + total * (scale - 1):
                continue
            # due first: smallest ((counts+1)*scale - 1) / w
            if best < 0 or ((counts[k] + 1) * scale - 1) * w[best] < (
                (counts[best] + 1) * scale - 1
            ) * w[k]:
                best = k
        counts[best] += 1
        order.append(best)
    return order
