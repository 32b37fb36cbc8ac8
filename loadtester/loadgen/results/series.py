"""A run's figures over time (:class:`RunSeries`): per target, per second since the run's
start, requests, errors, p50 and p99.

Each point keeps its latencies as a sparse histogram (the wire form of
:class:`~loadtester.loadgen.results.histogram.Histogram`), so percentiles of a second are
those of every slice counted in it, never an average of percentiles. A target holds at most
``max_points`` points: past that, the step doubles and adjacent points merge (their counts
add, their histograms merge), so point ``i`` always covers ``[i * step, (i + 1) * step)``.

Each target's whole run is kept merged too (never downsampled): ``to_json()["cdf"]`` gives, per
target, the latency at each percentile 0..100 of the run's merged histogram, what the
console's latency-cdf chart draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from loadtester.loadgen.results.histogram import Histogram
from loadtester.loadgen.results.result import LoadResult

__all__ = ["CANARY", "MAX_POINTS", "PRIMARY", "RunSeries"]

MAX_POINTS = 3600  # per target: an hour at one point per second
CANARY = "canary"
PRIMARY = "primary"


@dataclass
class _Point:
    requests: int = 0
    errors: int = 0
    hist: dict[str, Any] = field(default_factory=dict)  # Histogram.to_wire(); {} when empty

    def add(self, requests: int, errors: int, histogram: Histogram) -> None:
        self.requests += requests
        self.errors += errors
        if histogram.total:
            merged = Histogram.from_wire(self.hist) if self.hist else Histogram()
            merged.merge(histogram)
            self.hist = merged.to_wire()

    def absorb(self, other: _Point) -> None:
        self.add(other.requests, other.errors,
                 Histogram.from_wire(other.hist) if other.hist else Histogram())

    def to_json(self, t: float) -> dict[str, Any]:
        hist = Histogram.from_wire(self.hist) if self.hist else None
        return {
            "t": t,
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(hist.percentile(50) / 1000, 3) if hist else None,
            "p99_ms": round(hist.percentile(99) / 1000, 3) if hist else None,
        }


class RunSeries:
    """Per target, per ``step`` seconds since the run's start: requests, errors, p50, p99.

    ``add`` counts a slice of the run (a ``ProgressDelta``'s ``delta``, about a second long) at
    ``at``, the slice's end in seconds since the run's start (without ``at``, the slice's own
    ``elapsed``): in second ``round(at) - 1``, the whole second that overlaps most of the
    second before ``at``, so that a timer's jitter (a slice ending at 1.002 s) does not push a
    slice into the next second."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        if max_points < 2:
            raise ValueError("max_points must be at least 2")
        self.max_points = max_points
        self.step = 1  # seconds per point: 1, 2, 4, ...
        self._targets: dict[str, dict[int, _Point]] = {}
        self._whole: dict[str, Histogram] = {}  # per target: every latency of the run

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets counted so far, in the order they first appeared."""
        return tuple(self._targets)

    def add(self, delta: LoadResult, target: str = CANARY, at: float | None = None) -> None:
        """Count ``delta`` (requests, failed requests, latencies) for ``target`` at ``at``."""
        when = delta.elapsed if at is None else at
        second = max(0, math.floor(when + 0.5) - 1) if math.isfinite(when) else 0
        while second // self.step >= self.max_points:
            self._downsample()
        points = self._targets.setdefault(target, {})
        index = second // self.step
        point = points.get(index)
        if point is None:
            points[index] = point = _Point()
        point.add(delta.total, delta.failed, delta.histogram)
        self._whole.setdefault(target, Histogram()).merge(delta.histogram)

    def _downsample(self) -> None:
        """Double the step: merge each pair of adjacent points of every target."""
        self.step *= 2
        for target, points in self._targets.items():
            merged: dict[int, _Point] = {}
            for index in sorted(points):
                point = points[index]
                mine = merged.get(index // 2)
                if mine is None:
                    merged[index // 2] = point
                else:
                    mine.absorb(point)
            self._targets[target] = merged

    def points(self, target: str = CANARY) -> list[dict[str, Any]]:
        """``target``'s points from the run's start to its last counted one, a point for each
        step (empty steps with zero requests and null latencies)."""
        points = self._targets.get(target)
        if not points:
            return []
        return [(points.get(index) or _Point()).to_json(index * self.step)
                for index in range(max(points) + 1)]

    def cdf(self, target: str = CANARY) -> list[float]:
        """``target``'s latency (ms) at each percentile 0, 1, ..., 100 of the whole run (index
        ``i``: the latency under which ``i`` % of its answers came, nearest rank over the
        merged histogram; 0 the fastest, 100 the slowest); [] without answers."""
        whole = self._whole.get(target)
        if whole is None or not whole.total:
            return []
        return [round((whole.min if q == 0 else whole.percentile(q)) / 1000, 3)
                for q in range(101)]

    def to_json(self) -> dict[str, Any]:
        """``{"step": 1, "targets": {"canary": [{"t": 0, "requests": 120, "errors": 0,
        "p50_ms": 11.2, "p99_ms": 40.5}, ...]}, "cdf": {"canary": [3.1, ..., 52.0]}}``: ``t``
        in seconds since the run's start, latencies in milliseconds (null for a point without
        responses); ``cdf`` has a target only when it got answers (see ``cdf``)."""
        cdf = {target: self.cdf(target) for target in self._targets}
        return {"step": self.step,
                "targets": {target: self.points(target) for target in self._targets},
                "cdf": {target: values for target, values in cdf.items() if values}}
