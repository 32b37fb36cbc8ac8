"""A ramping arrival rate: ``"30s:0->100, 2m:100, 30s:100->0"`` as a piecewise-linear
:class:`Profile`, and the schedule it implies.

Request *g* of a run (counting from 0 over all workers) is due at the time the integral of the
rate reaches *g*, so each stage sends its integral to within one request, whatever the
number of workers: worker *k* of *n* sends requests ``k, k + n, k + 2n, ...``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtester.durations import MAX_DURATION, QUOTED, format_duration, parse_go_duration
from loadtester.excerpt import excerpt
from loadtester.loadgen.errors import LoadSpecError

__all__ = ["MAX_STAGES", "Profile", "Stage", "parse_stages"]

MAX_STAGES = 100
MAX_RATE = 10_000_000.0  # requests/s: far past what a machine sends, short of float trouble


@dataclass(frozen=True, slots=True)
class Stage:
    """``duration`` seconds during which the rate goes linearly from ``start`` to ``end``."""

    duration: float
    start: float
    end: float

    @property
    def count(self) -> float:
        """Requests due in this stage (the integral of its rate)."""
        return (self.start + self.end) / 2 * self.duration

    def __str__(self) -> str:
        rates = f"{self.start:g}" if self.start == self.end else f"{self.start:g}->{self.end:g}"
        return f"{format_duration(self.duration)}:{rates}"


@dataclass(frozen=True)
class Profile:
    """Stages back to back; times are seconds from the start of the run."""

    stages: tuple[Stage, ...]
    starts: tuple[float, ...] = field(init=False, repr=False, compare=False)
    counts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts, counts, t, c = [], [], 0.0, 0.0
        for stage in self.stages:
            starts.append(t)
            counts.append(c)
            t += stage.duration
            c += stage.count
        starts.append(t)
        counts.append(c)
        object.__setattr__(self, "starts", tuple(starts))
        object.__setattr__(self, "counts", tuple(counts))

    @property
    def duration(self) -> float:
        """Length of the run in seconds."""
        return self.starts[-1]

    @property
    def peak(self) -> float:
        """The highest rate of any stage."""
        return max(max(s.start, s.end) for s in self.stages)

    @property
    def total(self) -> float:
        """Requests due over the whole run (the integral)."""
        return self.counts[-1]

    def integral(self, t: float) -> float:
        """Requests due in the first ``t`` seconds."""
        if t <= 0:
            return 0.0
        for k, stage in enumerate(self.stages):
            if t < self.starts[k + 1]:
                dt = t - self.starts[k]
                slope = (stage.end - stage.start) / stage.duration
                return self.counts[k] + stage.start * dt + slope / 2 * dt * dt
        return self.total

    def due(self, g: int, seg: int = 0) -> tuple[float, int]:
        """When request ``g`` is due (seconds) and its stage, starting the search at stage
        ``seg`` (requests are claimed in order); (-1.0, last stage) past the last one."""
        counts = self.counts
        last = len(self.stages) - 1
        while seg < last and g >= counts[seg + 1]:
            seg += 1
        c = g - counts[seg]
        stage = self.stages[seg]
        if g >= counts[seg + 1] or c < 0:
            return -1.0, last
        half_slope = (stage.end - stage.start) / (2 * stage.duration)
        r0 = stage.start
        if half_slope == 0:
            dt = c / r0
        else:  # r0*dt + half_slope*dt**2 = c, in the form that stays exact for r0 == 0
            root = math.sqrt(max(r0 * r0 + 4 * half_slope * c, 0.0))
            dt = 2 * c / (r0 + root) if r0 + root > 0 else 0.0
        return self.starts[seg] + min(dt, stage.duration), seg

    def stage_targets(self) -> list[float]:
        """Requests due in each stage."""
        return [s.count for s in self.stages]

    def __str__(self) -> str:
        return ", ".join(str(s) for s in self.stages)


def parse_stages(value: Any, what: str = "stages") -> Profile:
    """A Profile from ``"30s:0->100, 2m:100"`` or a list of such strings or of mappings
    (``{duration: 30s, target: 100}`` ramps from the previous stage's end as in k6;
    ``{duration: 2m, rate: 100}``; ``{duration: 1m, from: 10, to: 50}``)."""
    if isinstance(value, str):
        items: Sequence[Any] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise LoadSpecError(f"{what} must be a string like '30s:0->100, 2m:100' or a list")
    if not items:
        raise LoadSpecError(f"{what}: no stage given")
    if len(items) > MAX_STAGES:
        raise LoadSpecError(f"{what}: at most {MAX_STAGES} stages, got {len(items)}")
    stages: list[Stage] = []
    for index, item in enumerate(items):
        previous = stages[-1].end if stages else 0.0
        where = (f"{what} {excerpt(str(item).strip(), QUOTED)}" if isinstance(value, str)
                 else f"{what}[{index}]")
        stages.append(_stage(item, previous, where))
    profile = Profile(tuple(stages))
    if profile.duration > MAX_DURATION:
        raise LoadSpecError(f"{what} last {format_duration(profile.duration)}: longer than "
                            f"{format_duration(MAX_DURATION)}")
    if profile.total < 1:
        raise LoadSpecError(f"{what} send no request: every rate is 0")
    return profile


def _stage(item: Any, previous: float, where: str) -> Stage:
    if isinstance(item, str):
        duration_text, sep, rates = item.strip().partition(":")
        if not sep:
            raise LoadSpecError(f"{where} is not 'duration:rate' or 'duration:from->to'")
        start_text, arrow, end_text = rates.partition("->")
        start = _rate(start_text, where)
        end = _rate(end_text, where) if arrow else start
        return Stage(_duration(duration_text, where), start, end)
    if isinstance(item, dict):
        known = {"duration", "target", "rate", "from", "to"}
        unknown = sorted(str(k) for k in item if k not in known)
        if unknown:
            raise LoadSpecError(f"{where}: unknown key {excerpt(unknown[0])} (known: duration, "
                                "target, rate, from, to)")
        if "duration" not in item:
            raise LoadSpecError(f"{where}: duration is required")
        duration = _duration(item["duration"], where)
        if "target" in item:
            return Stage(duration, previous, _rate(item["target"], where))
        if "rate" in item:
            rate = _rate(item["rate"], where)
            return Stage(duration, rate, rate)
        if "from" in item and "to" in item:
            return Stage(duration, _rate(item["from"], where), _rate(item["to"], where))
        raise LoadSpecError(f"{where}: give target, rate, or from and to")
    raise LoadSpecError(f"{where} is not a stage string or mapping")


def _duration(value: Any, where: str) -> float:
    text = str(value).strip()
    try:
        seconds = parse_go_duration(text)
    except ValueError as exc:
        raise LoadSpecError(f"{where}: duration {excerpt(text, QUOTED)}: {exc}") from None
    if not 0 < seconds <= MAX_DURATION:
        raise LoadSpecError(f"{where}: duration {excerpt(text, QUOTED)} must be positive")
    return seconds


def _rate(value: Any, where: str) -> float:
    text = str(value).strip().removesuffix("/s")
    if isinstance(value, bool):
        text = ""
    try:
        rate = float(text)
    except ValueError:
        raise LoadSpecError(f"{where}: rate {excerpt(text, QUOTED)} is not a number") from None
    if not 0 <= rate <= MAX_RATE:
        raise LoadSpecError(f"{where}: rate {excerpt(text, QUOTED)} must be between 0 and "
                            f"{MAX_RATE:g}")
    return rate
