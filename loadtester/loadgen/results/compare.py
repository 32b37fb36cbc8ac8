"""A compare run's two results side by side: per target (canary, primary) the count, rate,
p50/p95/p99, error rate and status codes, and the differences (canary minus primary); as a
JSON document (``-o json``'s ``compare``), as hey-style text and as one line for chat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtester.durations import format_duration

if TYPE_CHECKING:
    from loadtester.loadgen.results.result import LoadResult

__all__ = ["PERCENTILES", "compare_json", "compare_line", "compare_text", "unreachable"]

PERCENTILES = (50, 95, 99)
TARGETS = ("canary", "primary")


def _figures(result: LoadResult) -> dict[str, Any]:
    return {
        "requests": result.total,
        "responses": result.responses,
        "rate": round(result.achieved_rate, 3),
        "error_rate": round(result.error_rate, 4),
        "status_codes": {str(k): v for k, v in sorted(result.status_counts.items())},
        "errors": dict(sorted(result.errors.items())),
        "latency": {f"p{p}": result.latency(p) for p in PERCENTILES},
    }


def _percent(canary: float | None, primary: float | None) -> float | None:
    """How much larger ``canary`` is than ``primary``, in percent (None: unknown)."""
    if canary is None or primary is None or primary <= 0:
        return None
    return round(100.0 * (canary - primary) / primary, 2)


def compare_json(canary: LoadResult, primary: LoadResult) -> dict[str, Any]:
    """``{"canary": {...}, "primary": {...}, "differences": {...}}``: latencies in seconds,
    error rates in percent, differences canary minus primary (error rate in percentage
    points, latency also in percent of the primary's)."""
    latency: dict[str, float | None] = {}
    latency_percent: dict[str, float | None] = {}
    for p in PERCENTILES:
        mine, theirs = canary.latency(p), primary.latency(p)
        latency[f"p{p}"] = None if mine is None or theirs is None else round(mine - theirs, 6)
        latency_percent[f"p{p}"] = _percent(mine, theirs)
    return {
        "canary": _figures(canary),
        "primary": _figures(primary),
        "differences": {
            "requests": canary.total - primary.total,
            "rate": round(canary.achieved_rate - primary.achieved_rate, 3),
            "error_rate": round(canary.error_rate - primary.error_rate, 4),
            "latency": latency,
            "latency_percent": latency_percent,
        },
    }


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _signed_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return ("-" if seconds < 0 else "+") + format_duration(abs(seconds))


def _signed_percent(value: float | None) -> str:
    return "" if value is None else f" ({value:+.0f}%)"


def _codes(result: LoadResult) -> str:
    codes = " ".join(f"[{code}] {n}" for code, n in sorted(result.status_counts.items()))
    errors = sum(result.errors.values())
    return (codes + (f" errors {errors}" if errors else "")).strip() or "-"


def compare_text(canary: LoadResult, primary: LoadResult, compare_url: str = "") -> str:
    """The comparison section printed after the canary's hey summary."""
    target = f" {compare_url}" if compare_url else ""
    rows: list[tuple[str, str, str, str]] = [
        ("Requests", str(canary.total), str(primary.total), f"{canary.total - primary.total:+d}"),
        ("Rate/s", f"{canary.achieved_rate:.1f}", f"{primary.achieved_rate:.1f}",
         f"{canary.achieved_rate - primary.achieved_rate:+.1f}"),
    ]
    for p in PERCENTILES:
        mine, theirs = canary.latency(p), primary.latency(p)
        diff = None if mine is None or theirs is None else mine - theirs
        rows.append((f"p{p}", _duration(mine), _duration(theirs),
                     _signed_duration(diff) + _signed_percent(_percent(mine, theirs))))
    rows.append(("Error rate", f"{canary.error_rate:.2f}%", f"{primary.error_rate:.2f}%",
                 f"{canary.error_rate - primary.error_rate:+.2f} pp"))
    rows.append(("Status codes", _codes(canary), _codes(primary), ""))
    widths = [max(len(row[i]) for row in [("", "canary", "primary", ""), *rows])
              for i in range(3)]
    lines = [f"Compare (canary vs primary{target}):",
             f"  {'':<{widths[0]}}  {'canary':<{widths[1]}}  {'primary':<{widths[2]}}  "
             "difference"]
    lines += [f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip()
              for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def compare_line(document: dict[str, Any]) -> str:
    """One line from a :func:`compare_json` document, for chat: ``canary p99 62ms vs primary
    41ms (+51%), errors 0% vs 0%, 600/600 requests``."""
    canary, primary = document["canary"], document["primary"]
    diff = document["differences"]
    p99 = (f"canary p99 {_duration(canary['latency']['p99'])} vs primary "
           f"{_duration(primary['latency']['p99'])}"
           f"{_signed_percent(diff['latency_percent']['p99'])}")
    return (f"{p99}, errors {canary['error_rate']:g}% vs {primary['error_rate']:g}%, "
            f"{canary['requests']}/{primary['requests']} requests")


def unreachable(primary: LoadResult) -> str | None:
    """``compare target unreachable: connection refused`` when the compare target answered
    none of its requests: a comparison without one side is never silently passed."""
    if primary.total and not primary.responses:
        return f"compare target unreachable: {primary.failure_cause()}"
    return None
