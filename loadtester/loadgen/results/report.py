"""Text output of a run in hey's summary layout, and a one-line live progress bar."""

from __future__ import annotations

from typing import TextIO

from loadtester.durations import format_duration
from loadtester.loadgen.results.details import PHASES, Details
from loadtester.loadgen.results.histogram import Histogram, bucket_bounds
from loadtester.loadgen.results.result import HTTP1, LoadResult, format_percent

__all__ = ["ERROR_MESSAGES", "Progress", "format_hey_summary", "format_requests"]

# How each error kind is printed in "Error distribution" (tools/toolreport.classify_error reads
# these back to the same kinds).
ERROR_MESSAGES = {
    "refused": "connect: connection refused",
    "timeout": "request timeout exceeded",
    "reset": "connection reset or closed by the server (EOF)",
    "other": "other error",
}
_POINTS = (10, 25, 50, 75, 90, 95, 99)  # hey's
_BAR = "■"


def _linear_buckets(hist: Histogram, fastest: float, slowest: float) -> list[tuple[float, int]]:
    """hey's 11 evenly spaced marks from fastest to slowest, with counts (seconds)."""
    marks = 10
    step = (slowest - fastest) / marks
    edges = [fastest + step * i for i in range(marks + 1)]
    counts = [0] * (marks + 1)
    for index, n in enumerate(hist.counts):
        if not n:
            continue
        low, high = bucket_bounds(index)
        value = min(max((low + high) / 2, hist.min), hist.max) / 1e6
        slot = 0 if step <= 0 else min(marks, max(0, int(-(-(value - fastest) // step))))
        counts[slot] += n
    return list(zip(edges, counts, strict=True))


def format_hey_summary(result: LoadResult, details: Details | None = None) -> str:
    """The run printed the way hey prints its summary (requester/print.go), so hey-reading
    scripts keep working. ``details``: phase timings and sizes (zeros without them)."""
    details = details or Details()
    hist = result.histogram
    has = hist.count > 0
    slowest = hist.max / 1e6 if has else 0.0
    fastest = hist.min / 1e6 if has else 0.0
    average = f"{hist.mean / 1e6:4.4f}" if has else " NaN"
    out = [
        "",
        "Summary:",
        f"  Total:\t{result.elapsed:4.4f} secs",
        f"  Slowest:\t{slowest:4.4f} secs",
        f"  Fastest:\t{fastest:4.4f} secs",
        f"  Average:\t{average} secs",
        f"  Requests/sec:\t{result.achieved_rate:4.4f}",
        "  ",
    ]
    if details.size > 0 and has:
        out += [f"  Total data:\t{details.size} bytes",
                f"  Size/request:\t{details.size // hist.count} bytes"]  # fmt: skip
    out += ["", "Response time histogram:"]
    if has:
        buckets = _linear_buckets(hist, fastest, slowest)
        top = max(n for _, n in buckets) or 1
        out += [
            f"  {mark:4.3f} [{n}]\t|{_BAR * ((n * 40 + top // 2) // top)}" for mark, n in buckets
        ]
    out += ["", "", "Latency distribution:"]
    if has:
        out += [f"  {p:g}% in {hist.percentile(p) / 1e6:4.4f} secs" for p in _POINTS]
    out += ["", "Details (average, fastest, slowest):"]
    for name, phase in details.phases().items():
        mean, low, high = phase.figures(hist.count)
        out.append(f"  {PHASES[name]}:\t{mean:4.4f} secs, {low:4.4f} secs, {high:4.4f} secs")
    out += ["", "Status code distribution:"]
    out += [f"  [{code}]\t{n} responses" for code, n in sorted(result.status_counts.items())]
    out.append("")
    if result.errors:
        out.append("Error distribution:")
        out += [
            f"  [{n}]\t{ERROR_MESSAGES.get(kind, kind)}"
            for kind, n in sorted(result.errors.items(), key=lambda kv: -kv[1])
        ]
    else:
        out.append("")
    if result.retried:
        out += ["", f"Sent again after a reused connection closed unanswered: {result.retried}"]
    if result.unsent:
        out += ["", f"Not sent (every connection busy until the end): {result.unsent}"]
    if result.protocol != HTTP1:  # hey's layout unchanged for HTTP/1.1
        out += ["", f"Protocol: {result.protocol}"]
    return "\n".join(out) + "\n\n"  # hey ends with an empty line


_REQUEST_HEADINGS = ("request", "count", "rate/s", "p50", "p95", "p99", "errors",
                     "failed checks")


def format_requests(result: LoadResult) -> str:
    """A scenario run's table, one row per request (empty for a plain run), then each failed
    check's reason; a staged run adds what each stage sent against its target."""
    if not result.requests and not result.stage_targets:
        return ""
    out = []
    if result.requests:
        rows: list[tuple[str, ...]] = [_REQUEST_HEADINGS]
        reasons = []
        for name, part in result.requests.items():
            rows.append(_request_row(" ".join(name.split()), part))
            for kind, n in sorted(part.checks.items()):
                reasons.append(f"  {name}: {part.check_texts.get(kind, kind)} ({n})")
        widths = [max(len(row[i]) for row in rows) for i in range(len(_REQUEST_HEADINGS))]
        out.append("Requests:")
        for row in rows:
            cells = [cell.ljust(widths[i]) if i in (0, len(row) - 1) else cell.rjust(widths[i])
                     for i, cell in enumerate(row)]
            out.append(("  " + "  ".join(cells)).rstrip())
        if reasons:
            out += ["", "Failed checks:", *reasons]
    if result.stage_targets:
        out += ["", "Stages (sent/target):"] if out else ["Stages (sent/target):"]
        sent = result.stage_sent + [0] * (len(result.stage_targets) - len(result.stage_sent))
        out += [f"  {k + 1}: {n}/{target:.0f}"
                for k, (n, target) in enumerate(zip(sent, result.stage_targets, strict=True))]
    return "\n".join(out) + "\n\n"


def _request_row(name: str, part: LoadResult) -> tuple[str, ...]:
    def lat(p: int) -> str:
        value = part.latency(p)
        return "-" if value is None else format_duration(value)

    checks = ", ".join(f"{kind} {n}" for kind, n in sorted(part.checks.items()) if n) or "-"
    return (name, str(part.total), f"{part.achieved_rate:.1f}", lat(50), lat(95), lat(99),
            format_percent(part.error_rate), checks)


class Progress:
    """Accumulates progress deltas and redraws one status line on a terminal."""

    def __init__(self, stream: TextIO, duration: float | None, requests: int | None) -> None:
        self.stream = stream
        self.duration = duration
        self.requests = requests
        self.total = LoadResult()
        self.elapsed = 0.0

    def update(self, delta: LoadResult, elapsed: float) -> None:
        """Add a delta and redraw."""
        self.total.merge(delta)
        self.elapsed = max(self.elapsed, elapsed)
        self.draw()

    def draw(self) -> None:
        """Redraw the bar in place."""
        done = self.total.total
        if self.duration:
            fraction = self.elapsed / self.duration
        elif self.requests:
            fraction = done / self.requests
        else:
            fraction = 0.0
        fraction = min(max(fraction, 0.0), 1.0)
        width = 30
        filled = int(fraction * width)
        bar = "=" * filled + (">" if filled < width else "") + " " * (width - filled - 1)
        rate = done / self.elapsed if self.elapsed > 0 else 0.0
        errors = format_percent(self.total.error_rate)
        self.stream.write(
            f"\r[{bar}] {fraction * 100:3.0f}% {self.elapsed:5.1f}s {done} req"
            f" {rate:.0f}/s {errors} err"
        )
        self.stream.flush()

    def close(self) -> None:
        """End the status line."""
        self.stream.write("\n")
        self.stream.flush()
