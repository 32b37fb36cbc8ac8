"""Is the canary worse than the primary? A compare run's policy (:class:`RegressionPolicy`, read
by :func:`parse_policy` from ``maxRegression``, ``significance``, ``minSamples`` and
``requireVerdict``) and its verdict (:func:`judge`).

A metric fails only when the canary is worse by more than its margin **and** the difference is
significant: latency percentiles (``p50``, ``p90``, ``p95``, ``p99``; margin in percent of the
primary's) with the one-sided Mann-Whitney U test on the two targets' raw latencies (kept by
compare runs up to ``SAMPLE_CAP`` per target, results/result.py), or on their histograms past
that cap or without them (the verdict's ``latencyTest`` says which; a run past the cap says so
in its message too), the error rate (``errorRate``; margin in percentage points) with
Fisher's exact test (stats.py). Fewer than ``minSamples`` answered requests on either side is
inconclusive.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from loadtester.durations import format_duration
from loadtester.excerpt import excerpt
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.results.result import SAMPLE_CAP, LoadResult
from loadtester.loadgen.results.stats import (
    fisher_greater,
    mann_whitney_greater,
    mann_whitney_greater_samples,
)

__all__ = ["LATENCY_METRICS", "METRICS", "MetricRow", "RegressionPolicy", "Verdict", "format_p",
           "judge", "parse_policy"]

LATENCY_METRICS = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
ERROR_RATE = "errorRate"
METRICS = (*LATENCY_METRICS, ERROR_RATE)

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
SAMPLES, HISTOGRAMS = "samples", "histograms"  # what the Mann-Whitney test read


@dataclass(frozen=True)
class RegressionPolicy:
    """Margins by metric (latency in percent, ``errorRate`` in percentage points), the
    significance level, the samples each side needs, and whether inconclusive fails."""

    margins: tuple[tuple[str, float], ...]
    significance: float = 0.05
    min_samples: int = 50
    require_verdict: bool = False


@dataclass(frozen=True)
class MetricRow:
    """One metric of a verdict: values (seconds for latency, percent for errorRate), the change
    (percent for latency, points for errorRate), the margin, the p-value, and whether it failed
    (None values: not judged for want of samples)."""

    metric: str
    canary: float | None
    primary: float | None
    change: float | None
    margin: float
    p_value: float | None
    failed: bool

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers as None)."""
        def num(value: float | None) -> float | None:
            return value if value is not None and math.isfinite(value) else None

        return {"metric": self.metric, "canary": num(self.canary), "primary": num(self.primary),
                "change": num(self.change), "margin": self.margin,
                "pValue": num(self.p_value), "failed": self.failed}


@dataclass(frozen=True)
class Verdict:
    """``pass``, ``fail`` or ``inconclusive``, a one-line message, a row per metric, and
    whether the run passes (not on ``fail``; on ``inconclusive`` unless the policy requires a
    verdict)."""

    outcome: str
    message: str
    details: tuple[MetricRow, ...] = ()
    passed: bool = True
    latency_test: str | None = None  # SAMPLES or HISTOGRAMS; None: no latency metric tested

    def to_json(self) -> dict[str, Any]:
        """JSON-able form: ``{"outcome", "message", "passed", "details": [...]}``, with
        ``latencyTest`` (``samples`` or ``histograms``) when a latency metric was tested."""
        doc: dict[str, Any] = {"outcome": self.outcome, "message": self.message,
                               "passed": self.passed,
                               "details": [row.to_json() for row in self.details]}
        if self.latency_test is not None:
            doc["latencyTest"] = self.latency_test
        return doc


_ITEM = re.compile(r"^([A-Za-z0-9]+)\s*=\s*(.*?)\s*%?\s*$")


def parse_policy(max_regression: str | None, significance: str | None,
                 min_samples: str | None, require_verdict: str | None) -> RegressionPolicy | None:
    """The policy from its four texts (``"p99=20%, p50=10%, errorRate=0.5"``, ``"0.05"``,
    ``"50"``, ``"true"``), None when all are None; LoadSpecError names the bad field."""
    if max_regression is None and significance is None and min_samples is None and (
            require_verdict is None):
        return None
    if max_regression is None or not max_regression.strip():
        raise LoadSpecError("maxRegression is required with significance, minSamples or "
                            "requireVerdict (e.g. 'p99=20%, errorRate=0.5')")
    margins: dict[str, float] = {}
    for part in max_regression.split(","):
        item = part.strip()
        if not item:
            continue
        match = _ITEM.match(item)
        if "=" not in item or match is None:
            raise LoadSpecError(f"maxRegression: {excerpt(item)} is not metric=margin "
                                f"(e.g. p99=20%)")
        metric, text = match.group(1), match.group(2)
        if metric not in METRICS:
            raise LoadSpecError(f"maxRegression: unknown metric {excerpt(metric)} "
                                f"(one of {', '.join(METRICS)})")
        try:
            margin = float(text)
        except ValueError:
            raise LoadSpecError(f"maxRegression: {metric} margin {excerpt(text)} is not a "
                                f"number") from None
        if not math.isfinite(margin) or margin < 0:
            raise LoadSpecError(f"maxRegression: {metric} margin must be a finite number >= 0, "
                                f"got {excerpt(text)}")
        if metric in margins:
            raise LoadSpecError(f"maxRegression: {metric} is given twice")
        margins[metric] = margin
    if not margins:
        raise LoadSpecError("maxRegression names no metric (e.g. 'p99=20%, errorRate=0.5')")
    return RegressionPolicy(margins=tuple(margins.items()),
                            significance=_significance(significance),
                            min_samples=_min_samples(min_samples),
                            require_verdict=_bool("requireVerdict", require_verdict))


def _significance(text: str | None) -> float:
    if text is None or not text.strip():
        return RegressionPolicy.significance
    try:
        value = float(text.strip())
    except ValueError:
        raise LoadSpecError(f"significance {excerpt(text.strip())} is not a number") from None
    if not 0.0 < value < 1.0:
        raise LoadSpecError(f"significance must be between 0 and 1 (exclusive), got "
                            f"{excerpt(text.strip())}")
    return value


def _min_samples(text: str | None) -> int:
    if text is None or not text.strip():
        return RegressionPolicy.min_samples
    try:
        value = int(text.strip())
    except ValueError:
        raise LoadSpecError(f"minSamples {excerpt(text.strip())} is not an integer") from None
    if value < 1:
        raise LoadSpecError(f"minSamples must be at least 1, got {value}")
    return value


def _bool(key: str, text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise LoadSpecError(f"{key} {excerpt(value)} is not true or false")


def judge(canary: LoadResult, primary: LoadResult, policy: RegressionPolicy) -> Verdict:
    """The verdict of a compare run: ``fail`` when a metric is worse by more than its margin
    and significantly so, ``inconclusive`` when a metric lacks samples, else ``pass``."""
    answered = (canary.histogram.count, primary.histogram.count)
    totals = (canary.total, primary.total)
    latency_p: float | None = None
    test: str | None = None
    rows: list[MetricRow] = []
    short: tuple[int, int] | None = None
    for metric, margin in policy.margins:
        counts = totals if metric == ERROR_RATE else answered
        if min(counts) < policy.min_samples:
            short = short or counts
            rows.append(MetricRow(metric, None, None, None, margin, None, False))
            continue
        if metric == ERROR_RATE:
            rows.append(_error_row(canary, primary, margin, policy.significance))
            continue
        if latency_p is None:
            latency_p, test = _latency_p(canary, primary)
        rows.append(_latency_row(metric, canary, primary, margin, latency_p, policy.significance))
    details = tuple(rows)
    # past the cap the test read the histograms: the message says so
    capped = test == HISTOGRAMS and (canary.samples_over or primary.samples_over)
    fallback = f" (histograms: over {SAMPLE_CAP} samples)" if capped else ""
    failed = [row for row in details if row.failed]
    if failed:
        texts = [_describe(row, answered, totals, fallback) for row in failed]
        return Verdict(FAIL, "; ".join(texts), details, passed=False, latency_test=test)
    if short is not None:
        return Verdict(INCONCLUSIVE,
                       f"inconclusive: {short[0]}/{short[1]} requests, need {policy.min_samples}",
                       details, passed=not policy.require_verdict, latency_test=test)
    return Verdict(PASS, "; ".join(_describe(row, answered, totals, fallback) for row in details),
                   details, latency_test=test)


def _latency_p(canary: LoadResult, primary: LoadResult) -> tuple[float, str]:
    """The Mann-Whitney p-value on the raw latencies when both targets kept all of theirs (a
    compare run within SAMPLE_CAP), else on the histograms; and which of the two it read."""
    x, y = canary.samples, primary.samples
    if (x is not None and y is not None and len(x) == canary.histogram.count
            and len(y) == primary.histogram.count):
        return mann_whitney_greater_samples(x, y), SAMPLES
    return mann_whitney_greater(canary.histogram, primary.histogram), HISTOGRAMS


def _latency_row(metric: str, canary: LoadResult, primary: LoadResult, margin: float,
                 p_value: float, significance: float) -> MetricRow:
    point = LATENCY_METRICS[metric]
    ours = canary.histogram.percentile(point) / 1e6
    theirs = primary.histogram.percentile(point) / 1e6
    worse = math.inf if ours > 0 else 0.0  # against a primary at 0µs
    change = 100.0 * (ours - theirs) / theirs if theirs > 0 else worse
    failed = change > margin and p_value < significance
    return MetricRow(metric, ours, theirs, change, margin, p_value, failed)


def _error_row(canary: LoadResult, primary: LoadResult, margin: float,
               significance: float) -> MetricRow:
    ours, theirs = canary.error_rate, primary.error_rate
    change = ours - theirs
    p_value = fisher_greater(canary.failed, canary.total, primary.failed, primary.total)
    failed = change > margin and p_value < significance
    return MetricRow(ERROR_RATE, ours, theirs, change, margin, p_value, failed)


def format_p(p_value: float) -> str:
    """``p=0.03125``, ``p=0.00002``; below 0.00001 ``p<0.00001``."""
    if p_value < 0.000005:
        return "p<0.00001"
    return f"p={p_value:.5f}"


def _describe(row: MetricRow, answered: tuple[int, int], totals: tuple[int, int],
              fallback: str = "") -> str:
    """``canary p99 92ms vs primary 41ms (+124% > 20%), Mann-Whitney U p=0.00001 over
    1200/1200 requests``; when within the margin ``..., within 20%``; when over the margin but
    not significant ``..., not significant (Mann-Whitney U p=0.21000)``. ``fallback`` follows
    a Mann-Whitney p-value read from the histograms past the sample cap."""
    assert row.canary is not None and row.primary is not None and row.change is not None
    assert row.p_value is not None
    if row.metric == ERROR_RATE:
        head = (f"canary error rate {row.canary:.1f}% vs primary {row.primary:.1f}% "
                f"({row.change:+.1f} points")
        margin = f"{row.margin:g}"
        test, counts = "Fisher", totals
    else:
        change = "+inf" if math.isinf(row.change) else f"{row.change:+.0f}"
        head = (f"canary {row.metric} {format_duration(row.canary)} vs primary "
                f"{format_duration(row.primary)} ({change}%")
        margin = f"{row.margin:g}%"
        test, counts = "Mann-Whitney U", answered
    after = fallback if row.metric != ERROR_RATE else ""
    if row.failed:
        return (f"{head} > {margin}), {test} {format_p(row.p_value)} over "
                f"{counts[0]}/{counts[1]} requests{after}")
    if row.change > row.margin:
        return (f"{head} > {margin}), not significant ({test} {format_p(row.p_value)})"
                f"{after}")
    return f"{head}), within {margin}"
