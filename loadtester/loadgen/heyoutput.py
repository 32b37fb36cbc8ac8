"""hey's text summary parsed into a :class:`HeyReport`, which thresholds can judge.

The parser never raises: it keeps what it could read and lists what it could not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from loadtester.durations import format_duration
from loadtester.loadgen.result import describe_failures, format_percent

__all__ = ["HeyReport", "classify_error", "error_detail", "parse_hey_output"]

_SECTIONS = {
    "summary:": "summary",
    "response time histogram:": "histogram",
    "latency distribution:": "latency",
    "details (average, fastest, slowest):": "details",
    "status code distribution:": "status",
    "error distribution:": "errors",
}
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|NaN|[-+]?Inf)"
_SUMMARY = re.compile(r"^\s*(Total|Slowest|Fastest|Average|Requests/sec):\s*" + _NUMBER)
_DATA = re.compile(r"^\s*(Total data|Size/request):\s*(\d+)\s*bytes")
_BUCKET = re.compile(r"^\s*" + _NUMBER + r"\s+\[(\d+)\]")
_LATENCY = re.compile(r"^\s*" + _NUMBER + r"%\s+in\s+" + _NUMBER + r"\s*secs")
_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+)\s+responses?")
_ERROR = re.compile(r"^\s*\[(\d+)\]\s+(.*\S)")
_DETAIL = re.compile(r"^\s*[A-Za-z+ -]+:\s")
# lines only `loadtester load` prints, after the distributions
_EXTRA = re.compile(r"^(Not sent|Sent again) .*:\s*(\d+)$")


def classify_error(message: str) -> str:
    """Map a Go error message to our error kinds: refused, timeout, reset, other."""
    text = message.lower()
    if "connection refused" in text:
        return "refused"
    if "timeout" in text or "deadline exceeded" in text or "timed out" in text:
        return "timeout"
    if "reset" in text or "eof" in text or "broken pipe" in text or "closed" in text:
        return "reset"
    return "other"


def error_detail(messages: dict[str, int]) -> str:
    """The most frequent message of kind `other`, by the words after its last colon."""
    others = [(n, m) for m, n in messages.items() if classify_error(m) == "other"]
    if not others:
        return "other error"
    message = max(others)[1]
    return message.rpartition(": ")[2].strip().strip("\"'")[:200] or "other error"


def _num(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) or math.isinf(value) else value


@dataclass
class HeyReport:
    """What hey printed: summary figures, latency at hey's points, status codes, errors."""

    total_seconds: float | None = None
    slowest: float | None = None
    fastest: float | None = None
    average: float | None = None
    requests_per_sec: float | None = None
    total_data: int | None = None
    size_per_request: int | None = None
    histogram: list[tuple[float, int]] = field(default_factory=list)
    latencies: dict[float, float] = field(default_factory=dict)  # percent -> seconds
    status_counts: dict[int, int] = field(default_factory=dict)
    error_messages: dict[str, int] = field(default_factory=dict)
    unsent: int = 0
    retried: int = 0
    unreadable: list[str] = field(default_factory=list)
    sections: set[str] = field(default_factory=set)

    @property
    def errors(self) -> dict[str, int]:
        """Transport errors by kind (refused, timeout, reset, other)."""
        kinds: dict[str, int] = {}
        for message, n in self.error_messages.items():
            kind = classify_error(message)
            kinds[kind] = kinds.get(kind, 0) + n
        return kinds

    @property
    def responses(self) -> int:
        """Requests that got an HTTP response."""
        return sum(self.status_counts.values())

    @property
    def total(self) -> int:
        """Responses plus transport errors."""
        return self.responses + sum(self.error_messages.values())

    @property
    def error_rate(self) -> float:
        """5xx responses plus transport errors, in percent of all requests (a 4xx is an
        answer, as in Flagger's request-success-rate)."""
        if not self.total:
            return 0.0
        bad = sum(n for code, n in self.status_counts.items() if code >= 500)
        return 100.0 * (bad + sum(self.error_messages.values())) / self.total

    def failure_cause(self) -> str:
        """The error kinds, most frequent first; an `other` error by its last words
        (``no such host``)."""
        return describe_failures(self.errors, error_detail(self.error_messages))

    @property
    def elapsed(self) -> float:
        """hey's Total (seconds), 0 if unknown."""
        return self.total_seconds or 0.0

    @property
    def achieved_rate(self) -> float:
        """hey's Requests/sec, or total / elapsed."""
        if self.requests_per_sec is not None:
            return self.requests_per_sec
        return self.total / self.elapsed if self.elapsed else 0.0

    def latency(self, p: float) -> float | None:
        """Latency (seconds) at percentile ``p``: hey's own figure (10/25/50/75/90/95/99) or,
        where hey printed none (it prints ``0% in 0.0000 secs`` for p99 of small runs), the
        next higher one it has, up to the slowest response: an upper bound."""
        if not self.responses:
            return None
        higher = [value for point, value in self.latencies.items() if point >= p and point > 0]
        known = self.latencies.get(float(p))
        if known is not None and (known > 0 or not higher):
            return known
        return min(higher) if higher else self.slowest

    def summary_line(self) -> str:
        """Same shape as LoadResult.summary_line."""
        head = f"{self.total} requests in {self.elapsed:.1f}s ({self.achieved_rate:.1f}/s)"
        p50, p99 = self.latency(50), self.latency(99)
        has = p50 is not None and p99 is not None
        lat = f", p50 {format_duration(p50 or 0)} p99 {format_duration(p99 or 0)}" if has else ""
        return f"{head}{lat}, {format_percent(self.error_rate)} errors"

    def to_json(self) -> dict[str, Any]:
        """A JSON document in the shape of LoadResult.to_json where hey has the figures."""
        return {
            "requests": self.total,
            "responses": self.responses,
            "elapsed": self.elapsed,
            "rate": self.achieved_rate,
            "error_rate": round(self.error_rate, 4),
            "status_codes": {str(k): v for k, v in sorted(self.status_counts.items())},
            "errors": self.errors,
            "latency": {
                "min": self.fastest,
                "mean": self.average,
                "max": self.slowest,
                **{f"p{p:g}": v for p, v in sorted(self.latencies.items())},
            },
            "summary": self.summary_line(),
            "unreadable": list(self.unreadable),
        }


def parse_hey_output(text: str) -> HeyReport:
    """Read hey's summary from ``text`` (which may hold other output around it)."""
    report = HeyReport()
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        key = _SECTIONS.get(line.lower())
        if key is not None:
            section = key
            report.sections.add(key)
            continue
        try:
            understood = _parse_line(report, section, raw)
        except Exception:  # never raise on odd input
            understood = False
        if not understood:
            report.unreadable.append(f"{section or 'outside hey summary'}: {line[:200]}")
    if "summary" not in report.sections:
        report.unreadable.append("no 'Summary:' section found")
    if "status" not in report.sections and "errors" not in report.sections:
        report.unreadable.append("no status code or error distribution found")
    return report


def _parse_line(report: HeyReport, section: str, line: str) -> bool:
    extra = _EXTRA.match(line.strip())
    if extra:
        setattr(report, "unsent" if extra.group(1) == "Not sent" else "retried", int(extra[2]))
        return True
    if section == "summary":
        match = _SUMMARY.match(line)
        if match:
            value = _num(match.group(2))
            attr = {
                "Total": "total_seconds",
                "Slowest": "slowest",
                "Fastest": "fastest",
                "Average": "average",
                "Requests/sec": "requests_per_sec",
            }[match.group(1)]
            setattr(report, attr, value)
            return True
        data = _DATA.match(line)
        if data:
            attr = "total_data" if data.group(1) == "Total data" else "size_per_request"
            setattr(report, attr, int(data.group(2)))
            return True
        return False
    if section == "histogram":
        match = _BUCKET.match(line)
        if match:
            report.histogram.append((_num(match.group(1)) or 0.0, int(match.group(2))))
        return match is not None
    if section == "latency":
        match = _LATENCY.match(line)
        if match:
            percent, seconds = _num(match.group(1)), _num(match.group(2))
            if percent is not None and seconds is not None:
                report.latencies[percent] = seconds
                return True
        return False
    if section == "details":
        return _DETAIL.match(line) is not None
    if section == "status":
        match = _STATUS.match(line)
        if match:
            code = int(match.group(1))
            report.status_counts[code] = report.status_counts.get(code, 0) + int(match.group(2))
        return match is not None
    if section == "errors":
        match = _ERROR.match(line)
        if match:
            message = match.group(2)
            report.error_messages[message] = report.error_messages.get(message, 0) + int(
                match.group(1)
            )
        return match is not None
    return False
