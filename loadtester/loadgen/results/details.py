"""Per-phase timings and response sizes of a run: hey's ``Details`` section and ``Total data``.

Like hey, each answered request has five phases: DNS lookup, DNS+dialup (both 0 on a reused
connection), writing the request, waiting for the first byte of the answer and reading the
rest. A :class:`Phase` keeps the sum, minimum and maximum of the samples it got; phases that
only some requests have (a lookup, a new connection) count the others as 0 when printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PHASES", "Details", "Phase"]

# name -> hey's label
PHASES = {
    "dial": "DNS+dialup",
    "dns": "DNS-lookup",
    "write": "req write",
    "wait": "resp wait",
    "read": "resp read",
}


class Phase:
    """Sum, count, minimum and maximum of one phase's durations (integer nanoseconds)."""

    __slots__ = ("max", "min", "n", "sum")

    def __init__(self) -> None:
        self.n = 0
        self.sum = 0
        self.min = 0
        self.max = 0

    def add(self, ns: int) -> None:
        """Count one sample."""
        if self.n == 0 or ns < self.min:
            self.min = ns
        if ns > self.max:
            self.max = ns
        self.n += 1
        self.sum += ns

    def merge(self, other: Phase) -> None:
        """Add another process's or interval's samples."""
        if other.n == 0:
            return
        if self.n == 0 or other.min < self.min:
            self.min = other.min
        self.max = max(self.max, other.max)
        self.n += other.n
        self.sum += other.sum

    def figures(self, responses: int) -> tuple[float, float, float]:
        """Average, fastest and slowest in seconds over ``responses`` answered requests (those
        without a sample count as 0)."""
        if responses <= 0 or self.n == 0:
            return 0.0, 0.0, 0.0
        fastest = self.min if self.n >= responses else 0
        return self.sum / responses / 1e9, fastest / 1e9, self.max / 1e9


class Details:
    """The five phases and the body bytes of answered requests."""

    __slots__ = ("dial", "dns", "read", "size", "wait", "write")

    def __init__(self) -> None:
        self.dial = Phase()
        self.dns = Phase()
        self.write = Phase()
        self.wait = Phase()
        self.read = Phase()
        self.size = 0  # body bytes received

    def phases(self) -> dict[str, Phase]:
        """Phase name -> Phase, in hey's order."""
        return {name: getattr(self, name) for name in PHASES}

    def merge(self, other: Details) -> None:
        """Add another process's or interval's figures."""
        for name, phase in other.phases().items():
            getattr(self, name).merge(phase)
        self.size += other.size

    def to_wire(self) -> dict[str, Any]:
        """JSON-able form, sent between processes."""
        wire: dict[str, Any] = {"size": self.size}
        for name, p in self.phases().items():
            wire[name] = [p.n, p.sum, p.min, p.max]
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Details:
        """Rebuild from :meth:`to_wire` output."""
        details = cls()
        details.size = int(data.get("size", 0))
        for name in PHASES:
            n, total, low, high = data.get(name, (0, 0, 0, 0))
            phase = getattr(details, name)
            phase.n, phase.sum, phase.min, phase.max = int(n), int(total), int(low), int(high)
        return details
