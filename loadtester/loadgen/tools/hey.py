"""hey's text summary parsed into a :class:`HeyReport`, which thresholds can judge.

The parser never raises: it keeps what it could read and lists what it could not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from loadtester.loadgen.tools.toolreport import ToolFigures, add_error_line, read_sections

__all__ = ["HeyReport", "parse_hey_output"]

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
_DETAIL = re.compile(r"^\s*[A-Za-z+ -]+:\s")
# lines only `loadtester load` prints, after the distributions
_EXTRA = re.compile(r"^(Not sent|Sent again) .*:\s*(\d+)$")


def _num(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) or math.isinf(value) else value


@dataclass
class HeyReport(ToolFigures):
    """What hey printed: summary figures, latency at hey's points, status codes, errors."""

    total_data: int | None = None
    size_per_request: int | None = None
    status_counts: dict[int, int] = field(default_factory=dict)
    unsent: int = 0
    retried: int = 0

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

    def status_codes_json(self) -> dict[str, int]:
        return {str(k): v for k, v in sorted(self.status_counts.items())}


def parse_hey_output(text: str) -> HeyReport:
    """Read hey's summary from ``text`` (which may hold other output around it)."""
    report = HeyReport()
    read_sections(text, report, _SECTIONS, lambda section, line: _parse_line(report, section,
                                                                             line), "hey")
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
        return add_error_line(report, line)
    return False
