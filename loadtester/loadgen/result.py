"""Outcome of a load run (:class:`LoadResult`) and its pass/fail rules (:class:`Thresholds`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from loadtester.durations import format_duration
from loadtester.loadgen.histogram import Histogram
from loadtester.loadgen.spec import LoadSpecError, metadata_duration, metadata_number

__all__ = ["ERROR_KINDS", "LoadResult", "ResultView", "Thresholds", "all_failed",
           "describe_failures", "format_percent"]

# Transport error kinds (the ``kind`` label of loadtester_load_errors_total).
ERROR_KINDS = ("refused", "timeout", "reset", "other")
# How a kind reads in a failure reason (``all 20 requests failed: connection refused``).
_KIND_TEXT = {"refused": "connection refused", "timeout": "timed out",
              "reset": "connection reset or closed"}


def describe_failures(errors: Mapping[str, int], other: str = "other error") -> str:
    """``connection refused``, or with several kinds ``connection refused (15), timed out (5)``,
    most frequent first; ``other`` names what the kind ``other`` was (``no such host``)."""
    kinds = sorted(((n, kind) for kind, n in errors.items() if n), key=lambda x: (-x[0], x[1]))
    texts = [(_KIND_TEXT.get(kind, other), n) for n, kind in kinds]
    if len(texts) == 1:
        return texts[0][0]
    return ", ".join(f"{text} ({n})" for text, n in texts) or "no answer"


def format_percent(value: float) -> str:
    """``0%``, ``0.05%``, ``0.2%``, ``12.5%``, ``100%``."""
    if value == 0:
        return "0%"
    text = f"{value:.2f}" if value < 0.1 else f"{value:.1f}"
    return text.rstrip("0").rstrip(".") + "%"


class ResultView(Protocol):
    """What thresholds need from a result: ours or one parsed from hey's output."""

    @property
    def total(self) -> int: ...

    @property
    def responses(self) -> int:
        """Requests that got an answer (HTTP response or gRPC status from the server)."""
        ...

    @property
    def error_rate(self) -> float:
        """5xx answers (non-OK gRPC codes) and transport errors, in percent of all requests."""
        ...

    @property
    def achieved_rate(self) -> float: ...

    def latency(self, p: float) -> float | None:
        """Latency in seconds at percentile ``p``, None when unknown."""
        ...

    def failure_cause(self) -> str:
        """Why requests got no answer, for ``all N requests failed: <cause>``."""
        ...


def all_failed(result: ResultView) -> str | None:
    """``all 20 requests failed: connection refused`` when no request got an answer: the one
    way a load test without thresholds fails (status codes count only through maxErrorRate)."""
    if result.total and not result.responses:
        return f"all {result.total} requests failed: {result.failure_cause()}"
    return None


@dataclass
class LoadResult:
    """Counts, errors and latency of a run (or of a slice of one: a worker, an interval)."""

    status_counts: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    histogram: Histogram = field(default_factory=Histogram)
    elapsed: float = 0.0
    target_rate: float = 0.0
    unsent: int = 0  # scheduled requests never sent because every slot was busy at the end
    retried: int = 0  # requests sent twice: a reused connection closed before any answer byte

    @property
    def responses(self) -> int:
        """Requests that got an HTTP response (any status)."""
        return sum(self.status_counts.values())

    @property
    def transport_errors(self) -> int:
        """Requests that got no response (refused, timeout, reset, other)."""
        return sum(self.errors.values())

    @property
    def total(self) -> int:
        """Requests completed: responses plus transport errors."""
        return self.responses + self.transport_errors

    @property
    def failed(self) -> int:
        """5xx responses plus transport errors (as Flagger's request-success-rate counts:
        a 4xx is the target answering, not failing)."""
        bad = sum(n for code, n in self.status_counts.items() if code >= 500)
        return bad + self.transport_errors

    @property
    def error_rate(self) -> float:
        """Failed requests in percent of all requests (0 when there were none)."""
        return 100.0 * self.failed / self.total if self.total else 0.0

    @property
    def achieved_rate(self) -> float:
        """Requests completed per second of elapsed time."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0

    def latency(self, p: float) -> float | None:
        """Latency in seconds at percentile ``p`` of responses, None without responses."""
        if self.histogram.count == 0:
            return None
        return self.histogram.percentile(p) / 1e6

    def failure_cause(self) -> str:
        """The error kinds, most frequent first (``connection refused``)."""
        return describe_failures(self.errors)

    def merge(self, other: LoadResult) -> None:
        """Add another worker's or interval's counts; elapsed becomes the longer one."""
        for code, n in other.status_counts.items():
            self.status_counts[code] = self.status_counts.get(code, 0) + n
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        self.histogram.merge(other.histogram)
        self.elapsed = max(self.elapsed, other.elapsed)
        self.unsent += other.unsent
        self.retried += other.retried

    def summary_line(self) -> str:
        """``1200 requests in 10.0s (120.0/s), p50 12ms p99 812ms, 0.2% errors``."""
        head = f"{self.total} requests in {self.elapsed:.1f}s ({self.achieved_rate:.1f}/s)"
        p50, p99 = self.latency(50), self.latency(99)
        lat = (
            f", p50 {format_duration(p50)} p99 {format_duration(p99)}"
            if p50 is not None and p99 is not None
            else ""
        )
        return f"{head}{lat}, {format_percent(self.error_rate)} errors"

    def to_wire(self) -> dict[str, Any]:
        """JSON-able form, also sent between processes."""
        return {
            "codes": {str(k): v for k, v in self.status_counts.items()},
            "errors": dict(self.errors),
            "hist": self.histogram.to_wire(),
            "elapsed": self.elapsed,
            "target_rate": self.target_rate,
            "unsent": self.unsent,
            "retried": self.retried,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> LoadResult:
        """Rebuild from :meth:`to_wire` output."""
        return cls(
            status_counts={int(k): int(v) for k, v in data.get("codes", {}).items()},
            errors={str(k): int(v) for k, v in data.get("errors", {}).items()},
            histogram=Histogram.from_wire(data.get("hist", {})),
            elapsed=float(data.get("elapsed", 0.0)),
            target_rate=float(data.get("target_rate", 0.0)),
            unsent=int(data.get("unsent", 0)),
            retried=int(data.get("retried", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        """A readable JSON document for ``-o json`` and logs (latencies in seconds)."""
        points = (50, 75, 90, 95, 99, 99.9)
        lat = {f"p{p:g}": self.latency(p) for p in points}
        hist = self.histogram
        return {
            "requests": self.total,
            "responses": self.responses,
            "elapsed": round(self.elapsed, 6),
            "rate": round(self.achieved_rate, 3),
            "target_rate": self.target_rate,
            "error_rate": round(self.error_rate, 4),
            "status_codes": {str(k): v for k, v in sorted(self.status_counts.items())},
            "errors": dict(sorted(self.errors.items())),
            "unsent": self.unsent,
            "retried": self.retried,
            "latency": {
                "min": hist.min / 1e6 if hist.count else None,
                "mean": hist.mean / 1e6 if hist.count else None,
                "max": hist.max / 1e6 if hist.count else None,
                **lat,
            },
            "summary": self.summary_line(),
        }


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

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Thresholds:
        """Read ``maxErrorRate`` (percent), ``maxP50``/``maxP95``/``maxP99`` (Go durations;
        a bare number is milliseconds) and ``minRate`` (requests/s); others are ignored."""
        max_error_rate = metadata_number(metadata, "maxErrorRate", None)
        if max_error_rate is not None and max_error_rate > 100:
            raise LoadSpecError(f"metadata maxErrorRate is a percentage: at most 100, got "
                                f"{metadata['maxErrorRate']!r}")
        return cls(
            max_error_rate=max_error_rate,
            max_p50=metadata_duration(metadata, "maxP50", None, bare_unit=0.001),
            max_p95=metadata_duration(metadata, "maxP95", None, bare_unit=0.001),
            max_p99=metadata_duration(metadata, "maxP99", None, bare_unit=0.001),
            min_rate=metadata_number(metadata, "minRate", None),
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
            return f"error rate {got} > {want} {over}"
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
