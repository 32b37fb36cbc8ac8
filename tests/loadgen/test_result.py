"""LoadResult arithmetic and summary, and Thresholds read from metadata and evaluated."""

from __future__ import annotations

import pytest

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.metadata import thresholds_from_metadata
from loadtester.loadgen.results.histogram import Histogram
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.results.thresholds import Thresholds


def _result(latencies_ms: list[int], codes: dict[int, int], errors: dict[str, int]) -> LoadResult:
    hist = Histogram()
    for ms in latencies_ms:
        hist.record(ms * 1000)
    return LoadResult(status_counts=codes, errors=errors, histogram=hist, elapsed=10.0)


def _sample() -> LoadResult:
    """1200 requests: 1198 x 200 and one 503 (p50 12ms, p99 812ms), one timeout."""
    lat = [12] * 600 + [20] * 580 + [812] * 19
    return _result(lat, {200: 1198, 503: 1}, {"timeout": 1})


def test_error_rate_and_summary() -> None:
    """Error rate counts 5xx answers and transport errors over all requests, not 4xx."""
    result = _sample()
    assert (result.total, result.responses, result.failed) == (1200, 1199, 2)
    assert result.error_rate == pytest.approx(100 * 2 / 1200)
    assert result.achieved_rate == 120.0
    assert result.summary_line() == (
        "1200 requests in 10.0s (120.0/s), p50 12ms p99 812ms, 0.2% errors"
    )
    redirects = _result([1], {301: 5, 404: 5}, {})
    assert redirects.error_rate == 0.0 and redirects.failed == 0
    server_errors = _result([1], {200: 2, 401: 4, 500: 3, 503: 1}, {"refused": 2, "reset": 1})
    assert server_errors.failed == 7
    assert server_errors.error_rate == pytest.approx(100 * 7 / 13)


def test_merge_and_wire() -> None:
    """Merging adds counts and keeps the longest elapsed; the wire form round-trips."""
    a, b = _sample(), _result([5], {200: 1}, {"refused": 3})
    b.elapsed = 11.0
    a.merge(b)
    assert a.status_counts == {200: 1199, 503: 1}
    assert a.errors == {"timeout": 1, "refused": 3}
    assert a.elapsed == 11.0 and a.histogram.count == 1200
    again = LoadResult.from_wire(a.to_wire())
    assert again.to_json() == a.to_json()


def test_thresholds_from_metadata() -> None:
    """maxErrorRate is percent, maxP* are Go durations (bare numbers: ms), minRate is req/s."""
    limits = thresholds_from_metadata(
        {"maxErrorRate": "1", "maxP50": "10ms", "maxP95": "250", "maxP99": "0.5s", "minRate": "99"}
    )
    assert limits == Thresholds(1.0, 0.01, 0.25, 0.5, 99.0)
    assert not thresholds_from_metadata({"url": "http://x/"}).any
    with pytest.raises(LoadSpecError, match="maxP99"):
        thresholds_from_metadata({"maxP99": "soon"})
    with pytest.raises(LoadSpecError, match="maxErrorRate"):
        thresholds_from_metadata({"maxErrorRate": "lots"})


def test_first_broken_threshold_in_one_line() -> None:
    """evaluate returns a one-line message for the first broken limit, None when all hold."""
    result = _sample()
    assert Thresholds(max_p99=0.5).evaluate(result) == (
        "p99 812ms > 500ms over 1200 requests, 0.2% errors"
    )
    assert Thresholds(max_error_rate=0.1).evaluate(result) == (
        "error rate 0.2% > 0.1% over 1200 requests"
    )
    assert Thresholds(min_rate=150).evaluate(result) == (
        "rate 120.0/s < 150/s over 1200 requests, 0.2% errors"
    )
    assert Thresholds(max_p50=0.005).evaluate(result) is not None
    assert (
        Thresholds(max_error_rate=1, max_p99=1.0, max_p95=0.03, min_rate=100).evaluate(result)
        is None
    )
    assert Thresholds().evaluate(result) is None
    assert Thresholds(max_p99=1.0).evaluate(LoadResult()) == "no requests completed"
    refused = _result([], {}, {"refused": 5})
    assert Thresholds(max_p99=1.0).evaluate(refused) == (
        "p99 unknown (no responses) over 5 requests, 100% errors"
    )


def test_per_request_results_merge_and_travel() -> None:
    """A scenario's per-request results and failed checks merge, cross the wire, and show
    in to_json under each request's name; a plain run's document keeps its keys."""
    plain = _sample().to_json()
    assert "by_request" not in plain and "check_failures" not in plain
    assert plain["requests"] == 1200
    a = _result([5] * 4, {200: 4}, {})
    a.requests = {"home": _result([5] * 3, {200: 3}, {}), "down": _result([5], {200: 1}, {})}
    a.requests["down"].checks, a.requests["down"].rejected = {"body": 1}, 1
    a.requests["down"].check_texts = {"body": "check body /ok/ failed"}
    a.checks, a.rejected = {"body": 1}, 1
    b = LoadResult.from_wire(a.to_wire())
    b.merge(a)
    assert b.total == 8 and b.failed == 2 and b.error_rate == 25.0
    assert b.requests["down"].total == 2 and b.requests["down"].checks == {"body": 2}
    doc = b.to_json()
    assert doc["requests"] == 8 and doc["check_failures"] == {"body": 2}
    assert doc["by_request"]["home"]["requests"] == 6
    assert doc["by_request"]["down"]["checks"] == {"body": "check body /ok/ failed"}
    assert doc["by_request"]["down"]["error_rate"] == 100.0
    assert b.summary_line().endswith("25% errors, 2 failed checks")
