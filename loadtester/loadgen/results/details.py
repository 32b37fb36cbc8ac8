"""Per-phase timings and response sizes of a run: hey's ``Details`` section and ``Total data``.

Like hey, each answered request has five phases: DNS lookup, DNS+dialup (both 0 on a reused
connection), writing the request, waiting for the first byte of the answer and reading the
rest. A :class:`Phase` keeps the sum, minimum and maximum of the samples it got; phases that
only some requests have (a lookup, a new connection) count the others as 0 when printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtester.loadgen.results.histogram import wire_int

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


_NONE_YET = 1 << 62  # a minimum before the first sample: larger than any duration


class Details:
    """The five phases and the body bytes of answered requests.

    The three phases every answer has (write, wait, read) are kept as plain fields, counted
    by :meth:`answered` once per request; :meth:`phases` shows them as Phase objects."""

    __slots__ = ("answers", "dial", "dns", "read_max", "read_min", "read_sum", "size",
                 "wait_max", "wait_min", "wait_sum", "write_max", "write_min", "write_sum")

    def __init__(self) -> None:
        self.dial = Phase()
        self.dns = Phase()
        self.size = 0  # body bytes received
        self.answers = 0
        self.write_sum = self.wait_sum = self.read_sum = 0
        self.write_min = self.wait_min = self.read_min = _NONE_YET
        self.write_max = self.wait_max = self.read_max = 0

    def answered(self, write: int, wait: int, read: int) -> None:
        """Count one answered request's write, wait and read phases (in nanoseconds)."""
        self.answers += 1
        self.write_sum += write
        if write < self.write_min:
            self.write_min = write
        if write > self.write_max:
            self.write_max = write
        self.wait_sum += wait
        if wait < self.wait_min:
            self.wait_min = wait
        if wait > self.wait_max:
            self.wait_max = wait
        self.read_sum += read
        if read < self.read_min:
            self.read_min = read
        if read > self.read_max:
            self.read_max = read

    def answer_phase(self, name: str) -> Phase:
        """The write, wait or read phase as a Phase."""
        phase = Phase()
        phase.n = self.answers
        phase.sum = getattr(self, f"{name}_sum")
        phase.min = getattr(self, f"{name}_min") if self.answers else 0
        phase.max = getattr(self, f"{name}_max")
        return phase

    def phases(self) -> dict[str, Phase]:
        """Phase name -> Phase, in hey's order."""
        return {name: self.answer_phase(name) if name in _PER_ANSWER else getattr(self, name)
                for name in PHASES}

    def merge(self, other: Details) -> None:
        """Add another process's or interval's figures."""
        self.dial.merge(other.dial)
        self.dns.merge(other.dns)
        self.size += other.size
        for name in _PER_ANSWER:
            self.set_answer_phase(name, self.answer_phase(name), other.answer_phase(name))
        self.answers += other.answers

    def set_answer_phase(self, name: str, *parts: Phase) -> None:
        """Set the write, wait or read phase's fields to the sum of ``parts``."""
        setattr(self, f"{name}_sum", sum(p.sum for p in parts))
        setattr(self, f"{name}_min", min((p.min for p in parts if p.n), default=_NONE_YET))
        setattr(self, f"{name}_max", max(p.max for p in parts))

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
        details.size = wire_int(data.get("size", 0))
        for name in PHASES:
            n, total, low, high = data.get(name, (0, 0, 0, 0))
            phase = Phase()
            phase.n, phase.sum = wire_int(n), wire_int(total)
            phase.min, phase.max = wire_int(low), wire_int(high)
            if name in _PER_ANSWER:
                details.answers = phase.n
                details.set_answer_phase(name, phase)
            else:
                getattr(details, name).merge(phase)
        return details


_PER_ANSWER = ("write", "wait", "read")
