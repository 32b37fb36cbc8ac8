"""ghz's output (its default "summary" format, or ``-O json``/``pretty``) parsed into a
:class:`GhzReport`, which the same thresholds as hey's summary can judge.

ghz (https://ghz.sh) counts every call in ``Count`` and in its status code distribution (gRPC
code names: ``OK``, ``Unavailable``, ...); failed calls are listed again by message in its error
distribution. A call whose error says it never reached the server (refused, reset, timed out,
unresolvable: ``rpc error: code = Unavailable desc = connection error: ...``) is a transport
error; every other status came from the server and is an answer. Any non-OK code counts for
``maxErrorRate``. Latencies are those ghz reports: of successful calls, unless run with
``--count-errors``. The parser never raises: it keeps what it could read and lists the rest.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from loadtester.loadgen.tools.toolreport import (
    ToolFigures,
    add_error_line,
    classify_error,
    read_sections,
)

__all__ = ["GhzReport", "is_transport_error", "parse_ghz_output"]

_SECTIONS = {
    "summary:": "summary",
    "response time histogram:": "histogram",
    "latency distribution:": "latency",
    "status code distribution:": "status",
    "error distribution:": "errors",
}
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0}
_DURATION = r"([-+]?\d+(?:\.\d+)?)\s*(ns|us|µs|μs|ms|s)\b"
_SUMMARY = re.compile(r"^\s*(Total|Slowest|Fastest|Average):\s*" + _DURATION)
_COUNT = re.compile(r"^\s*Count:\s*(\d+)\s*$")
_RPS = re.compile(r"^\s*Requests/sec:\s*([-+]?\d+(?:\.\d+)?|NaN|[-+]?Inf)\s*$")
_NAME = re.compile(r"^\s*Name:\s")
_BUCKET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+\[(\d+)\]")  # mark in milliseconds
_LATENCY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s+in\s+" + _DURATION)
_STATUS = re.compile(r"^\s*\[([A-Za-z]+)\]\s+(\d+)\s+responses?\s*$")
_CODE = re.compile(r"code = (\w+)")
# words that say a call never reached the server, besides classify_error's kinds
_UNREACHED = ("connection error", "error while dialing", "no such host", "name resolver")


def is_transport_error(message: str) -> bool:
    """True when a ghz error message says the call got no answer from the server."""
    code = _CODE.search(message)
    if code is not None and code.group(1) not in ("Unavailable", "DeadlineExceeded"):
        return False  # the server answered with this status
    lowered = message.lower()
    return classify_error(message) != "other" or any(w in lowered for w in _UNREACHED)


def _seconds(value: str, unit: str) -> float | None:
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number * _UNITS[unit]


@dataclass
class GhzReport(ToolFigures):
    """What ghz printed: count, timings, latency at its points, gRPC codes, errors."""

    count: int | None = None
    codes: dict[str, int] = field(default_factory=dict)  # gRPC code name -> calls

    @property
    def transport_messages(self) -> dict[str, int]:
        """Error messages of calls that never reached the server."""
        return {m: n for m, n in self.error_messages.items() if is_transport_error(m)}

    @property
    def total(self) -> int:
        """Calls made: ghz's Count, else the sum of its status code distribution."""
        return self.count if self.count is not None else sum(self.codes.values())

    @property
    def responses(self) -> int:
        """Calls the server answered (with any status)."""
        return max(0, self.total - sum(self.transport_messages.values()))

    @property
    def status_counts(self) -> dict[str, int]:
        """Answers by gRPC code: the status distribution less the transport errors."""
        counts = dict(self.codes)
        for message, n in self.transport_messages.items():
            code = _CODE.search(message)
            name = code.group(1) if code else "Unavailable"
            if name in counts:
                counts[name] = max(0, counts[name] - n)
        return {name: n for name, n in counts.items() if n}

    @property
    def error_rate(self) -> float:
        """Calls with a non-OK code (transport errors included), in percent of all calls."""
        if not self.total:
            return 0.0
        if self.codes:  # ghz counts every call, failed ones under their code, in Count
            bad = self.total - self.codes.get("OK", 0)
        else:
            bad = sum(self.error_messages.values())
        return 100.0 * min(bad, self.total) / self.total

    def latency(self, p: float) -> float | None:
        """Latency (seconds) at percentile ``p``: ghz's own figure (10/25/50/75/90/95/99) or
        the next higher one it printed, up to the slowest call: an upper bound."""
        if not self.latencies and not self.slowest:
            return None
        known = self.latencies.get(float(p))
        if known is not None:
            return known
        higher = [value for point, value in self.latencies.items() if point >= p]
        return min(higher) if higher else self.slowest

    def status_codes_json(self) -> dict[str, int]:
        return dict(sorted(self.codes.items()))


def parse_ghz_output(text: str) -> GhzReport:
    """Read ghz's summary or JSON report from ``text`` (which may hold other output)."""
    start = text.find("{")
    if start >= 0 and not text[:start].strip():
        report = _parse_json(text[start:])
        if report is not None:
            return report
    report = GhzReport()
    read_sections(text, report, _SECTIONS, lambda section, line: _parse_line(report, section,
                                                                             line), "ghz")
    return report


def _parse_line(report: GhzReport, section: str, line: str) -> bool:
    if section == "summary":
        count, rps, match = _COUNT.match(line), _RPS.match(line), _SUMMARY.match(line)
        if count:
            report.count = int(count.group(1))
        elif rps:
            value = float(rps.group(1))
            report.requests_per_sec = None if math.isnan(value) or math.isinf(value) else value
        elif match:
            attr = {"Total": "total_seconds", "Slowest": "slowest", "Fastest": "fastest",
                    "Average": "average"}[match.group(1)]
            setattr(report, attr, _seconds(match.group(2), match.group(3)))
        return bool(count or rps or match or _NAME.match(line))
    if section == "histogram":
        bucket = _BUCKET.match(line)
        if bucket:
            report.histogram.append((float(bucket.group(1)) / 1000, int(bucket.group(2))))
        return bucket is not None
    if section == "latency":
        lat = _LATENCY.match(line)
        if lat:
            seconds = _seconds(lat.group(2), lat.group(3))
            if seconds is not None:
                report.latencies[float(lat.group(1))] = seconds
        return lat is not None
    if section == "status":
        status = _STATUS.match(line)
        if status:
            name = status.group(1)
            report.codes[name] = report.codes.get(name, 0) + int(status.group(2))
        return status is not None
    if section == "errors":
        return add_error_line(report, line)
    return False


def _parse_json(text: str) -> GhzReport | None:
    """ghz's ``-O json``/``pretty`` report (durations in nanoseconds, marks in seconds)."""
    try:
        data, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or "count" not in data:
        return None
    report = GhzReport(sections={"json"})

    def nanos(key: str) -> float | None:
        value = data.get(key)
        return value / 1e9 if isinstance(value, int | float) and value > 0 else None

    try:
        report.count = int(data["count"])
        report.total_seconds = nanos("total")
        report.average, report.fastest, report.slowest = (
            nanos("average"), nanos("fastest"), nanos("slowest"))
        rps = data.get("rps")
        report.requests_per_sec = float(rps) if isinstance(rps, int | float) else None
        report.codes = {str(k): int(v) for k, v in (data.get("statusCodeDistribution")
                                                     or {}).items()}
        report.error_messages = {str(k): int(v) for k, v in (data.get("errorDistribution")
                                                              or {}).items()}
        for point in data.get("latencyDistribution") or []:
            if point and point.get("latency"):
                report.latencies[float(point["percentage"])] = point["latency"] / 1e9
        report.histogram = [(float(b["mark"]), int(b["count"]))
                            for b in data.get("histogram") or []]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        report.unreadable.append(f"json: {exc}"[:200])
    return report
