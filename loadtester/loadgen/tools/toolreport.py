"""What a parsed report of an external load tool (hey, ghz) offers: the :class:`ToolReport`
protocol that thresholds and the load task read, the figures both tools print
(:class:`ToolFigures`, with the summary line and JSON document derived from them), and the
section reader."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from loadtester.durations import format_duration
from loadtester.loadgen.results.result import describe_failures, format_percent

__all__ = ["ToolFigures", "ToolReport", "add_error_line", "classify_error", "error_detail",
           "read_sections"]


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


class ToolReport(Protocol):
    """A tool's report as thresholds (a ResultView) and the load metrics read it."""

    sections: set[str]  # the sections found (empty: the tool printed no summary)
    unreadable: list[str]  # what could not be read, by section
    histogram: list[tuple[float, int]]  # (seconds, count)

    @property
    def total(self) -> int:
        """Requests (calls) made."""
        ...

    @property
    def responses(self) -> int:
        """Requests the target answered (HTTP response or gRPC status from the server)."""
        ...

    @property
    def error_rate(self) -> float:
        """Failed requests in percent of all requests, as the tool counts failures."""
        ...

    @property
    def status_counts(self) -> Mapping[int, int] | Mapping[str, int]:
        """Answers by HTTP status, or by gRPC code name."""
        ...

    @property
    def errors(self) -> dict[str, int]:
        """Transport errors by kind (refused, timeout, reset, other)."""
        ...

    @property
    def elapsed(self) -> float: ...

    @property
    def achieved_rate(self) -> float: ...

    def latency(self, p: float) -> float | None:
        """Latency in seconds at percentile ``p``, None when unknown."""
        ...

    def failure_cause(self) -> str:
        """Why requests got no answer, for ``all N requests failed: <cause>``."""
        ...

    def summary_line(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


class _Counted(ToolReport, Protocol):
    """What ToolFigures' derived figures read: the tool's counts and its printed figures."""

    total_seconds: float | None
    slowest: float | None
    fastest: float | None
    average: float | None
    requests_per_sec: float | None
    latencies: dict[float, float]

    def status_codes_json(self) -> dict[str, int]: ...


@dataclass
class ToolFigures:
    """Figures hey and ghz both print, and what derives from them; a tool's class (HeyReport,
    GhzReport) adds how it counts requests and errors (total, responses, error_rate, latency,
    status_codes_json)."""

    total_seconds: float | None = None
    slowest: float | None = None
    fastest: float | None = None
    average: float | None = None
    requests_per_sec: float | None = None
    histogram: list[tuple[float, int]] = field(default_factory=list)  # (seconds, count)
    latencies: dict[float, float] = field(default_factory=dict)  # percent -> seconds
    error_messages: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    sections: set[str] = field(default_factory=set)

    @property
    def transport_messages(self) -> dict[str, int]:
        """Error messages of requests that got no answer (hey: all of them)."""
        return self.error_messages

    @property
    def errors(self) -> dict[str, int]:
        """Transport errors by kind (refused, timeout, reset, other)."""
        kinds: dict[str, int] = {}
        for message, n in self.transport_messages.items():
            kind = classify_error(message)
            kinds[kind] = kinds.get(kind, 0) + n
        return kinds

    def failure_cause(self) -> str:
        """The error kinds, most frequent first; an `other` error by its last words
        (``no such host``)."""
        return describe_failures(self.errors, error_detail(self.transport_messages))

    @property
    def elapsed(self) -> float:
        """The tool's Total (seconds), 0 if unknown."""
        return self.total_seconds or 0.0

    @property
    def achieved_rate(self: _Counted) -> float:
        """The tool's Requests/sec, or total / elapsed."""
        if self.requests_per_sec is not None:
            return self.requests_per_sec
        return self.total / self.elapsed if self.elapsed else 0.0

    def summary_line(self: _Counted) -> str:
        """Same shape as LoadResult.summary_line."""
        head = f"{self.total} requests in {self.elapsed:.1f}s ({self.achieved_rate:.1f}/s)"
        p50, p99 = self.latency(50), self.latency(99)
        has = p50 is not None and p99 is not None
        lat = f", p50 {format_duration(p50 or 0)} p99 {format_duration(p99 or 0)}" if has else ""
        return f"{head}{lat}, {format_percent(self.error_rate)} errors"

    def to_json(self: _Counted) -> dict[str, Any]:
        """A JSON document in the shape of LoadResult.to_json where the tool has the figures."""
        return {
            "requests": self.total,
            "responses": self.responses,
            "elapsed": self.elapsed,
            "rate": self.achieved_rate,
            "error_rate": round(self.error_rate, 4),
            "status_codes": self.status_codes_json(),
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


_ERROR_LINE = re.compile(r"^\s*\[(\d+)\]\s+(.*\S)")


def add_error_line(report: ToolFigures, line: str) -> bool:
    """Count one `[N] message` line of an "Error distribution"; False if it is not one."""
    match = _ERROR_LINE.match(line)
    if match:
        message = match.group(2)
        report.error_messages[message] = report.error_messages.get(message, 0) + int(match[1])
    return match is not None


def read_sections(text: str, report: ToolFigures, sections: Mapping[str, str],
                  parse_line: Callable[[str, str], bool], tool: str) -> None:
    """Feed each line of `text` to `parse_line(section, line)`, tracking section headings;
    never raises: what it cannot read is listed in report.unreadable."""
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        key = sections.get(line.lower())
        if key is not None:
            section = key
            report.sections.add(key)
            continue
        try:
            understood = parse_line(section, raw)
        except Exception:  # never raise on odd input
            understood = False
        if not understood:
            report.unreadable.append(f"{section or f'outside {tool} summary'}: {line[:200]}")
    if "summary" not in report.sections:
        report.unreadable.append("no 'Summary:' section found")
    if "status" not in report.sections and "errors" not in report.sections:
        report.unreadable.append("no status code or error distribution found")
