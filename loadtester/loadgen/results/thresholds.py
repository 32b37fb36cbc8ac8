"""A run's pass/fail rules (:class:`Thresholds`; input/metadata.py reads them from webhook
metadata), for a whole run and for each of a scenario's requests. They judge any
:class:`ResultView`: ours, or a parsed hey or ghz report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loadtester.durations import format_duration
from loadtester.loadgen.results.result import LoadResult, ResultView, format_percent

__all__ = ["Thresholds", "evaluate_requests"]


@dataclass(frozen=True)
class Thresholds:
    """Optional limits: error rate (percent), p50/p95/p99 latency (seconds), minimum rate."""

    max_error_rate: float | None = None
    max_p50: float | None = None
    max_p95: float | None = None
    max_p99: float | None = None
    min_rate: float | None = None

    @property
    def any(self) -> bool:
        """True when at least one limit is set."""
        return any(
            v is not None
            for v in (self.max_error_rate, self.max_p50, self.max_p95, self.max_p99, self.min_rate)
        )

    def evaluate(self, result: ResultView) -> str | None:
        """The first broken limit as one line, or None when all hold."""
        if not self.any:
            return None
        total = result.total
        if total == 0:
            return "no requests completed"
        errors_text = f"{format_percent(result.error_rate)} errors"
        over = f"over {total} requests"
        if self.max_error_rate is not None and result.error_rate > self.max_error_rate:
            got, want = format_percent(result.error_rate), format_percent(self.max_error_rate)
            return f"error rate {got} > {want} {over}{_check_note(result)}"
        for p, limit in ((99, self.max_p99), (95, self.max_p95), (50, self.max_p50)):
            if limit is None:
                continue
            value = result.latency(p)
            if value is None:
                return f"p{p} unknown (no responses) {over}, {errors_text}"
            if value > limit:
                got, want = format_duration(value), format_duration(limit)
                return f"p{p} {got} > {want} {over}, {errors_text}"
        if self.min_rate is not None and result.achieved_rate < self.min_rate:
            return f"rate {result.achieved_rate:.1f}/s < {self.min_rate:g}/s {over}, {errors_text}"
        return None


def _check_note(result: ResultView) -> str:
    """``, check body /ok/ failed (5)`` for a request's failed checks, or ``, failed checks:
    orders body 5, home status 2`` (request, check, count; most first) for a whole run's."""
    if not isinstance(result, LoadResult) or not result.checks:
        return ""
    failed = sorted(((n, kind) for kind, n in result.checks.items() if n), reverse=True)
    if result.check_texts:
        return ", " + ", ".join(f"{result.check_texts.get(kind, kind)} ({n})" for n, kind in failed)
    named = [(n, f"{' '.join(name.split())} {kind}") for name, part in result.requests.items()
             for kind, n in part.checks.items() if n]
    if named:  # a scenario run: which request's check failed
        failed = sorted(named, key=lambda item: -item[0])
    return ", failed checks: " + ", ".join(f"{what} {n}" for n, what in failed)


def evaluate_requests(result: LoadResult, limits: Mapping[str, Thresholds]) -> str | None:
    """The first broken per-request limit, named after its request (``POST /api/orders: p99
    812ms > 200ms over 60 requests, 0% errors``), or None."""
    for name, thresholds in limits.items():
        part = result.requests.get(name, LoadResult())
        broken = thresholds.evaluate(part)
        if broken is not None:
            return f"{name}: {broken}"
    return None
