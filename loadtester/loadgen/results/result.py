"""Outcome of a load run (:class:`LoadResult`) and what judging one needs (:class:`ResultView`)."""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from loadtester.durations import format_duration
from loadtester.loadgen.results.compare import compare_json
from loadtester.loadgen.results.histogram import Histogram

__all__ = ["ERROR_KINDS", "HTTP1", "SAMPLE_CAP", "LoadResult", "ResultView", "all_failed",
           "describe_failures", "format_percent"]

# Transport error kinds (the ``kind`` label of loadtester_load_errors_total), besides the
# ``tls: ...`` kinds of a failed TLS handshake (running/tlserrors.py, a bounded set).
ERROR_KINDS = ("refused", "timeout", "reset", "other")
# How a kind reads in a failure reason (``all 20 requests failed: connection refused``).
_KIND_TEXT = {"refused": "connection refused", "timeout": "timed out",
              "reset": "connection reset or closed"}


def describe_failures(errors: Mapping[str, int], other: str = "other error") -> str:
    """``connection refused``, or with several kinds ``connection refused (15), timed out (5)``,
    most frequent first; ``other`` names what the kind ``other`` was (``no such host``)."""
    kinds = sorted(((n, kind) for kind, n in errors.items() if n), key=lambda x: (-x[0], x[1]))
    # a TLS kind (``tls: unknown ca``) reads as it is
    texts = [(_KIND_TEXT.get(kind, kind if kind.startswith("tls: ") else other), n)
             for n, kind in kinds]
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


HTTP1 = "HTTP/1.1"
# A compare run keeps at most this many raw latencies per target (the verdict's Mann-Whitney
# test on them); past it, none (``samples_over``) and the test reads the histograms. In memory
# 8 bytes a value (an array of int64): 1.6 MB per target in the service at the cap, each worker
# holding its share until the next progress interval; on the worker pipe about 5 bytes a value
# (pickled ints), sent once in that interval's delta.
SAMPLE_CAP = 200_000


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
    # a scenario run: results by request name, and answers that failed a response check
    requests: dict[str, LoadResult] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)  # failed checks by kind
    rejected: int = 0  # answers below 500 that failed a check: failed requests too
    check_texts: dict[str, str] = field(default_factory=dict)  # kind -> "check body /x/ failed"
    stage_sent: list[int] = field(default_factory=list)  # a staged run: sent in each stage
    stage_targets: list[float] = field(default_factory=list)  # ... and due in each
    protocol: str = HTTP1  # what the run spoke: HTTP1 or "HTTP/2"
    # a compare run: the compare target's (the primary's) result; this one is the canary's
    primary: LoadResult | None = None
    # a compare run's raw latencies of answers (µs, as counted in ``histogram``), None when not
    # kept; ``samples_over`` when some were not (past SAMPLE_CAP): then ``samples`` is None
    samples: array[int] | None = None
    samples_over: bool = False

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
        a 4xx is the target answering, not failing), plus answers that failed a check."""
        bad = sum(n for code, n in self.status_counts.items() if code >= 500)
        return bad + self.transport_errors + self.rejected

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
        if other.samples is not None or other.samples_over:
            self._merge_samples(other)  # before the histogram: it reads the count so far
        self.histogram.merge(other.histogram)
        self.elapsed = max(self.elapsed, other.elapsed)
        self.unsent += other.unsent
        self.retried += other.retried
        self.rejected += other.rejected
        for kind, n in other.checks.items():
            self.checks[kind] = self.checks.get(kind, 0) + n
        self.check_texts.update(other.check_texts)
        for name, part in other.requests.items():
            mine = self.requests.get(name)
            if mine is None:
                self.requests[name] = mine = LoadResult(target_rate=part.target_rate)
            mine.merge(part)
        if len(self.stage_sent) < len(other.stage_sent):
            self.stage_sent += [0] * (len(other.stage_sent) - len(self.stage_sent))
        for index, n in enumerate(other.stage_sent):
            self.stage_sent[index] += n
        self.stage_targets = self.stage_targets or list(other.stage_targets)
        if other.protocol != HTTP1:
            self.protocol = other.protocol
        if other.primary is not None:
            if self.primary is None:
                self.primary = LoadResult(target_rate=other.primary.target_rate)
            self.primary.merge(other.primary)

    def _merge_samples(self, other: LoadResult) -> None:
        """Add ``other``'s raw latencies (a compare run's), up to SAMPLE_CAP in all; past it,
        or when some answers so far were not kept, none are kept (``samples_over``)."""
        mine = self.samples
        if mine is None and not self.samples_over and self.histogram.count == 0:
            mine = self.samples = array("q")
        theirs = other.samples
        if (mine is None or theirs is None or other.samples_over
                or len(mine) + len(theirs) > SAMPLE_CAP):
            self.samples, self.samples_over = None, True
            return
        mine.extend(theirs)

    def summary_line(self) -> str:
        """``1200 requests in 10.0s (120.0/s), p50 12ms p99 812ms, 0.2% errors``."""
        head = f"{self.total} requests in {self.elapsed:.1f}s ({self.achieved_rate:.1f}/s)"
        p50, p99 = self.latency(50), self.latency(99)
        lat = (
            f", p50 {format_duration(p50)} p99 {format_duration(p99)}"
            if p50 is not None and p99 is not None
            else ""
        )
        checks = sum(self.checks.values())
        failed_checks = f", {checks} failed checks" if checks else ""
        return f"{head}{lat}, {format_percent(self.error_rate)} errors{failed_checks}"

    def to_wire(self) -> dict[str, Any]:
        """JSON-able form, also sent between processes."""
        wire: dict[str, Any] = {
            "codes": {str(k): v for k, v in self.status_counts.items()},
            "errors": dict(self.errors),
            "hist": self.histogram.to_wire(),
            "elapsed": self.elapsed,
            "target_rate": self.target_rate,
            "unsent": self.unsent,
            "retried": self.retried,
        }
        if self.requests:
            wire["requests"] = {name: part.to_wire() for name, part in self.requests.items()}
        if self.checks or self.check_texts:
            wire.update(checks=dict(self.checks), rejected=self.rejected,
                        check_texts=dict(self.check_texts))
        if self.stage_targets:
            wire.update(stage_sent=list(self.stage_sent), stage_targets=list(self.stage_targets))
        if self.protocol != HTTP1:
            wire["protocol"] = self.protocol
        if self.primary is not None:
            wire["primary"] = self.primary.to_wire()
        if self.samples is not None:
            wire["samples"] = self.samples.tolist()
        if self.samples_over:
            wire["samples_over"] = True
        return wire

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
            requests={str(name): cls.from_wire(part)
                      for name, part in data.get("requests", {}).items()},
            checks={str(k): int(v) for k, v in data.get("checks", {}).items()},
            rejected=int(data.get("rejected", 0)),
            check_texts={str(k): str(v) for k, v in data.get("check_texts", {}).items()},
            stage_sent=[int(n) for n in data.get("stage_sent", [])],
            stage_targets=[float(n) for n in data.get("stage_targets", [])],
            protocol=str(data.get("protocol", HTTP1)),
            primary=cls.from_wire(data["primary"]) if "primary" in data else None,
            samples=array("q", data["samples"]) if "samples" in data else None,
            samples_over=bool(data.get("samples_over", False)),
        )

    def to_json(self) -> dict[str, Any]:
        """A readable JSON document for ``-o json`` and logs (latencies in seconds).

        A scenario run adds ``by_request`` (each request's own document under its name, with
        the ``check_failures`` and ``checks`` it has) and ``check_failures`` summed; a staged
        run adds ``stages``; a run over HTTP/2 ``protocol`` (none: HTTP/1.1); a compare run
        ``compare`` (results/compare.py: the primary's figures and the differences)."""
        doc = self._figures()
        if self.protocol != HTTP1:
            doc["protocol"] = self.protocol
        if self.requests:
            doc["by_request"] = {name: part.to_json() for name, part in self.requests.items()}
        if self.requests or self.check_texts:
            doc["check_failures"] = dict(sorted(self.checks.items()))
        if self.check_texts:
            doc["checks"] = dict(self.check_texts)
        if self.stage_targets:
            sent = self.stage_sent + [0] * (len(self.stage_targets) - len(self.stage_sent))
            doc["stages"] = [{"target": round(target, 3), "sent": n}
                             for target, n in zip(self.stage_targets, sent, strict=True)]
        if self.primary is not None:
            doc["compare"] = compare_json(self, self.primary)
        return doc

    def _figures(self) -> dict[str, Any]:
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
