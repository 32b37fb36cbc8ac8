"""Log-linear (HDR-style) latency histogram in integer microseconds, mergeable and compact.

Values below 256 µs are counted exactly; above, each power-of-two range is split into 128
equal buckets, so a bucket is at most 1/128 of its value wide and a reported percentile (the
bucket's midpoint, clamped to the observed min/max) is within about 0.4 % of the true value.
Values are capped at one hour.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Sequence
from typing import Any

__all__ = ["INT64_MAX", "MAX_VALUE_US", "Histogram", "wire_int"]

_SUB_BITS = 8
_HALF = 1 << (_SUB_BITS - 1)  # 128 buckets per power-of-two range
_LINEAR = 1 << _SUB_BITS  # values below this are exact
MAX_VALUE_US = 3_600_000_000  # one hour
INT64_MAX = 2**63 - 1  # the compiled build (histogram.pxd, details.pxd) keeps C 64-bit integers


def bucket_index(value: int) -> int:
    """Bucket index of a non-negative integer value."""
    if value < _LINEAR:
        return value
    shift = value.bit_length() - _SUB_BITS
    return (shift << 7) + (value >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """Lowest and highest value counted in a bucket."""
    if index < _LINEAR:
        return index, index
    shift = (index >> 7) - 1
    mantissa = (index & (_HALF - 1)) + _HALF
    return mantissa << shift, ((mantissa + 1) << shift) - 1


_SIZE = bucket_index(MAX_VALUE_US) + 1
# the bit length of a byte: record() finds a value's bit length from its highest non-zero byte
# (values are below 2**32), a table lookup, where the compiled build would call int.bit_length
# on a Python int made for the purpose
_BYTE_BITS = bytes(k.bit_length() for k in range(256))


def wire_int(value: Any) -> int:
    """``int(value)`` of a wire form, which must fit in a signed 64-bit integer (ValueError)."""
    number = int(value)
    if not -INT64_MAX - 1 <= number <= INT64_MAX:
        raise ValueError(f"{number} does not fit in a 64-bit integer")
    return number


class Histogram:
    """Counts of latencies (integer microseconds) in log-linear buckets."""

    __slots__ = ("counts", "max", "min", "tally", "total", "total_us")

    def __init__(self) -> None:
        self.counts = array("q", bytes(8 * _SIZE))  # by bucket index
        self.tally = self.counts  # the same counts, a C array in the compiled build
        self.total = 0
        self.total_us = 0
        self.min = MAX_VALUE_US
        self.max = 0

    def record(self, value_us: int) -> None:
        """Count one value in microseconds (negative counts as 0, huge as one hour); it must
        fit in a signed 64-bit integer (OverflowError), as the compiled build takes it."""
        if value_us < _LINEAR:
            if value_us < 0:
                if value_us < -INT64_MAX - 1:
                    raise OverflowError("a latency does not fit in a 64-bit integer")
                value_us = 0
            self.tally[value_us] += 1
        else:
            if value_us > MAX_VALUE_US:
                if value_us > INT64_MAX:
                    raise OverflowError("a latency does not fit in a 64-bit integer")
                value_us = MAX_VALUE_US
            # value_us.bit_length() - _SUB_BITS (bucket_index), byte by byte
            if value_us < 1 << 16:
                shift = _BYTE_BITS[value_us >> 8]
            elif value_us < 1 << 24:
                shift = _BYTE_BITS[value_us >> 16] + 8
            else:
                shift = _BYTE_BITS[value_us >> 24] + 16
            self.tally[(shift << 7) + (value_us >> shift)] += 1
        self.total += 1
        self.total_us += value_us
        if value_us > self.max:
            self.max = value_us
        if value_us < self.min:
            self.min = value_us

    @property
    def count(self) -> int:
        """Number of recorded values."""
        return self.total

    @property
    def mean(self) -> float:
        """Mean of recorded values in microseconds (0 when empty)."""
        return self.total_us / self.total if self.total else 0.0

    def percentile(self, p: float) -> int:
        """Value in µs at percentile ``p`` (0-100, nearest rank); 0 when empty."""
        if self.total == 0:
            return 0
        if p >= 100.0:
            return self.max
        rank = max(1, math.ceil(p / 100.0 * self.total - 1e-9))
        seen = 0
        for index, n in enumerate(self.counts):
            if n:
                seen += n
                if seen >= rank:
                    low, high = bucket_bounds(index)
                    return min(max((low + high) // 2, self.min), self.max)
        return self.max

    def bucket_counts(self, bounds: Sequence[float]) -> list[int]:
        """Counts per Prometheus-style bucket: values <= each upper bound (seconds, ascending)
        but above the previous one, plus a last +Inf bucket; each of our buckets goes whole
        to the bound its lowest value falls under. ``total_us / 1e6`` is the matching sum."""
        edges = [int(b * 1e6) for b in bounds]
        out = [0] * (len(edges) + 1)
        for index, n in enumerate(self.counts):
            if n:
                out[bisect.bisect_left(edges, bucket_bounds(index)[0])] += n
        return out

    def merge(self, other: Histogram) -> None:
        """Add all values of ``other`` into this histogram."""
        if other.total == 0:
            return
        counts = self.counts
        for index, n in enumerate(other.counts):
            if n:
                counts[index] += n
        self.total += other.total
        self.total_us += other.total_us
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)

    def to_wire(self) -> dict[str, Any]:
        """Compact JSON-able form: only the non-empty buckets."""
        return {
            "b": [[i, n] for i, n in enumerate(self.counts) if n],
            "n": self.total,
            "sum": self.total_us,
            "min": self.min,
            "max": self.max,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Histogram:
        """Rebuild a histogram from :meth:`to_wire` output."""
        hist = cls()
        for index, n in data.get("b", []):
            hist.counts[int(index)] += int(n)
        hist.total = wire_int(data.get("n", 0))
        hist.total_us = wire_int(data.get("sum", 0))
        hist.min = wire_int(data.get("min", MAX_VALUE_US))
        hist.max = wire_int(data.get("max", 0))
        return hist

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (to the parent process) as its wire form: a plain Histogram again."""
        return Histogram.from_wire, (self.to_wire(),)

    def __repr__(self) -> str:
        return (
            f"Histogram(count={self.total}, min={self.min if self.total else 0}us, "
            f"p50={self.percentile(50)}us, p99={self.percentile(99)}us, max={self.max}us)"
        )
