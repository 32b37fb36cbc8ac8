"""A finished `type: load` run as a message for the event sinks: one row per request (count,
rate, p50/p95/p99, error rate, failed checks), the thresholds that were set and which broke.

The message goes through the event service like an event Flagger posts to /events, so it is
stored in the outbox and delivered in order with the canary's other events.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loadtester.durations import format_duration
from loadtester.errors import LoadtesterError
from loadtester.event import LOAD_RESULT_KEY
from loadtester.loadgen.results.compare import compare_line
from loadtester.loadgen.results.result import describe_failures, format_percent
from loadtester.loadgen.results.thresholds import Thresholds
from loadtester.logs import get_logger
from loadtester.models import WebhookPayload
from loadtester.tasks.base import flag

if TYPE_CHECKING:
    from loadtester.settings import Settings
    from loadtester.tasks.base import TaskEnvironment

NOTIFY_KEY = "notify"
MAX_ROWS = 20  # requests listed; a chat message is read, not scrolled
NAME_WIDTH = 32
_HEADINGS = ("request", "count", "rate/s", "p50", "p95", "p99", "errors", "failed checks")
# each limit of Thresholds: its field, its metadata key, how its value reads
_LIMITS = (
    ("max_error_rate", "maxErrorRate", format_percent),
    ("max_p50", "maxP50", format_duration),
    ("max_p95", "maxP95", format_duration),
    ("max_p99", "maxP99", format_duration),
    ("min_rate", "minRate", lambda rate: f"{rate:g}/s"),
)


def wants_notice(metadata: Mapping[str, str] | None, settings: Settings) -> bool:
    """`notify: "true"` on the task, or -notify-load-results on the service."""
    return settings.notify_load_results or flag(dict(metadata or {}), NOTIFY_KEY)


@dataclass(frozen=True)
class Figures:
    """One row: the whole run or one request, read from a LoadResult.to_json() document.
    It is a ResultView, so the thresholds judge it as they judge a LoadResult."""

    total: int
    responses: int
    error_rate: float
    achieved_rate: float
    percentiles: Mapping[str, float | None]
    errors: Mapping[str, int]
    check_failures: Mapping[str, int]

    @classmethod
    def read(cls, doc: Mapping[str, Any]) -> Figures:
        total = doc.get("requests", 0)
        return cls(
            total=int(total) if isinstance(total, int | float) else 0,
            responses=int(doc.get("responses", 0)),
            error_rate=float(doc.get("error_rate", 0.0)),
            achieved_rate=float(doc.get("rate", 0.0)),
            percentiles=dict(doc.get("latency") or {}),
            errors={str(k): int(v) for k, v in (doc.get("errors") or {}).items()},
            check_failures={str(k): int(v) for k, v in (doc.get("check_failures") or {}).items()},
        )

    def latency(self, p: float) -> float | None:
        value = self.percentiles.get(f"p{p:g}")
        return None if value is None else float(value)

    def failure_cause(self) -> str:
        return describe_failures(self.errors)

    def cells(self, name: str) -> tuple[str, ...]:
        """The row of the table."""
        def lat(p: int) -> str:
            value = self.latency(p)
            return "-" if value is None else format_duration(value)

        checks = ", ".join(f"{check} {n}" for check, n in sorted(self.check_failures.items())
                           if n) or "-"
        return (_short(name), str(self.total), f"{self.achieved_rate:.1f}", lat(50), lat(95),
                lat(99), format_percent(self.error_rate), checks)


def _short(name: str) -> str:
    name = " ".join(name.split())  # a newline or tab in a name must not break the table
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


def limits(thresholds: Thresholds, figures: Figures, prefix: str = "") -> list[str]:
    """One line per limit set: ``ok      maxP99 200ms`` or ``BROKEN  maxP99 200ms: p99 812ms >
    200ms over 60 requests``, each limit judged on its own by Thresholds.evaluate."""
    lines = []
    for field, key, show in _LIMITS:
        value = getattr(thresholds, field)
        if value is None:
            continue
        alone = dataclasses.replace(Thresholds(), **{field: value})
        broken = alone.evaluate(figures)
        text = f"{prefix}{key} {show(value)}"
        lines.append(f"BROKEN  {text}: {broken}" if broken else f"ok      {text}")
    return lines


def load_report(result: Mapping[str, Any], thresholds: Thresholds, broken: str | None, *,
                canary: str, whole_run: str,
                request_thresholds: Mapping[str, Thresholds] | None = None) -> str:
    """The message: a headline with the verdict, then a monospace table and the thresholds.
    A scenario run (``by_request`` maps names to figures) has a row per request and a total
    row; a plain run is one row named ``whole_run``."""
    whole = Figures.read(result)
    elapsed = float(result.get("elapsed", 0.0))
    if broken is None:
        headline = f"Load test passed for {canary} ({whole.total} requests in {elapsed:.1f}s)"
    else:
        headline = f"Load test FAILED for {canary}: {broken}"
    per_request = result.get("by_request")
    rows: list[tuple[str, ...]] = [_HEADINGS]
    checks: list[str] = limits(thresholds, whole)
    if isinstance(per_request, Mapping):
        named = list(per_request.items())
        for name, doc in named[:MAX_ROWS]:
            figures = Figures.read(doc)
            rows.append(figures.cells(str(name)))
            own = (request_thresholds or {}).get(str(name))
            if own is not None:
                checks.extend(limits(own, figures, f"{_short(str(name))} "))
        if len(named) > MAX_ROWS:
            rows.append((f"… {len(named) - MAX_ROWS} more", *[""] * (len(_HEADINGS) - 1)))
        rows.append(whole.cells("total"))
    else:
        rows.append(whole.cells(whole_run))
    compare = result.get("compare")
    if isinstance(compare, Mapping):
        rows.append(Figures.read(compare["primary"]).cells("primary"))
    table = _table(rows)
    if checks:
        table += "\nthresholds\n" + "\n".join("  " + line for line in checks)
    else:
        table += "\nno thresholds set"
    if isinstance(compare, Mapping):
        table += "\n" + _comparison(compare)
    return f"{headline}\n```\n{table}\n```"


def _comparison(compare: Mapping[str, Any]) -> str:
    """A compare run's lines: the differences, and the verdict when a policy decided one."""
    lines = [f"compare: {compare_line(dict(compare))}"]
    verdict = compare.get("verdict")
    if isinstance(verdict, Mapping):
        lines.append(f"verdict {verdict.get('outcome')}: {verdict.get('message')}")
    else:
        lines.append("verdict: none (no maxRegression set)")
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell: names to the left, figures to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADINGS))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) if i in (0, len(row) - 1) else cell.rjust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


async def notify_load_result(env: TaskEnvironment, payload: WebhookPayload,
                             result: Mapping[str, Any], thresholds: Thresholds,
                             broken: str | None, *, whole_run: str,
                             request_thresholds: Mapping[str, Thresholds] | None = None) -> None:
    """Store the report for the event sinks when the task or the service asks for it; a store
    that does not answer costs the message (logged), never the task's own result."""
    if env.events is None or not wants_notice(payload.metadata, env.settings):
        return
    text = load_report(result, thresholds, broken, canary=payload.canary, whole_run=whole_run,
                       request_thresholds=request_thresholds)
    # the timestamp makes each run's message its own event (the outbox drops a repeated one)
    metadata = {"eventMessage": text, "eventType": "Normal" if broken is None else "Warning",
                "timestamp": str(time.time_ns() // 1_000_000)}
    if env.settings.console_url:  # the message links to the canary's console page
        metadata[LOAD_RESULT_KEY] = "load"
    event = WebhookPayload(name=payload.name, namespace=payload.namespace, phase=payload.phase,
                           checksum=payload.checksum, metadata=metadata)
    try:
        await env.events.receive(event)
    except LoadtesterError as exc:
        get_logger(**payload.log_fields(), type="load").warning(
            "load test result not sent to the event sinks", reason=str(exc))
