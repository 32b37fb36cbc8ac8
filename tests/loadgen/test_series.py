"""RunSeries: a run's requests, errors and percentiles per second, per target, bounded."""

from __future__ import annotations

import json

import pytest

from loadtester.loadgen.results.histogram import Histogram
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.results.series import RunSeries


def _slice(latencies_ms: list[int], *, status: int = 200, transport_errors: int = 0,
           elapsed: float = 0.0) -> LoadResult:
    histogram = Histogram()
    for ms in latencies_ms:
        histogram.record(ms * 1000)
    codes = {status: len(latencies_ms)} if latencies_ms else {}
    errors = {"refused": transport_errors} if transport_errors else {}
    return LoadResult(status_counts=codes, errors=errors, histogram=histogram, elapsed=elapsed)


def test_slices_of_one_second_merge_their_histograms() -> None:
    """Two slices ending in the same second add up; p50/p99 are those of the merged latencies."""
    series = RunSeries()
    series.add(_slice([10] * 50), at=0.4)
    series.add(_slice([100] * 50, status=503), at=0.9)
    [point] = series.to_json()["targets"]["canary"]
    assert point == {"t": 0, "requests": 100, "errors": 50, "p50_ms": pytest.approx(10, rel=0.005),
                     "p99_ms": pytest.approx(100, rel=0.005)}


def test_a_slice_goes_to_the_second_before_its_rounded_end() -> None:
    """A slice ending at 1.002 s counts in second 0, at 3.6 s in second 3; gaps read empty."""
    series = RunSeries()
    series.add(_slice([5]), at=1.002)
    series.add(_slice([6]), at=1.0)
    series.add(_slice([7]), at=3.6)
    points = series.to_json()["targets"]["canary"]
    assert [p["t"] for p in points] == [0, 1, 2, 3]
    assert [p["requests"] for p in points] == [2, 0, 0, 1]
    assert points[1]["p50_ms"] is None and points[1]["p99_ms"] is None


def test_without_at_the_slice_elapsed_places_it() -> None:
    """``at`` defaults to the slice's own elapsed seconds."""
    series = RunSeries()
    series.add(_slice([5], elapsed=2.6))
    assert [p["requests"] for p in series.points()] == [0, 0, 1]


def test_transport_errors_count_as_requests_and_errors() -> None:
    """A refused connection is a request and an error, without a latency."""
    series = RunSeries()
    series.add(_slice([], transport_errors=3), at=0.5)
    assert series.points() == [{"t": 0, "requests": 3, "errors": 3, "p50_ms": None,
                                "p99_ms": None}]


def test_targets_are_kept_apart() -> None:
    """The canary and the primary each have their own points."""
    series = RunSeries()
    series.add(_slice([10] * 4), at=0.5)
    series.add(_slice([20] * 4), target="primary", at=0.5)
    doc = series.to_json()
    assert set(doc["targets"]) == {"canary", "primary"}
    assert doc["targets"]["canary"][0]["p50_ms"] == pytest.approx(10, rel=0.005)
    assert doc["targets"]["primary"][0]["p50_ms"] == pytest.approx(20, rel=0.005)


def test_past_the_cap_adjacent_seconds_merge_and_t_stays_right() -> None:
    """Beyond max_points the step doubles: points merge pairwise and t is index * step."""
    series = RunSeries(max_points=4)
    for second in range(5):  # seconds 0..4: five points do not fit in four
        series.add(_slice([10 * (second + 1)] * 10), at=second + 0.5)
    doc = series.to_json()
    assert doc["step"] == 2
    points = doc["targets"]["canary"]
    assert [p["t"] for p in points] == [0, 2, 4]
    assert [p["requests"] for p in points] == [20, 20, 10]
    # merged histograms, not averaged percentiles: 10 at 10 ms and 10 at 20 ms
    assert points[0]["p50_ms"] == pytest.approx(10, rel=0.005)
    assert points[0]["p99_ms"] == pytest.approx(20, rel=0.005)


def test_an_hour_and_more_stays_within_3600_points() -> None:
    """A two-hour run keeps at most 3 600 points per target, every request counted."""
    series = RunSeries()
    for second in range(0, 7200, 7):
        series.add(_slice([1]), at=second + 0.5)
        series.add(_slice([2]), target="primary", at=second + 0.5)
    doc = series.to_json()
    assert doc["step"] == 2
    for points in doc["targets"].values():
        assert len(points) <= 3600
        assert sum(p["requests"] for p in points) == len(range(0, 7200, 7))
        assert points[-1]["t"] == (7197 // 2) * 2


def test_to_json_is_json() -> None:
    """The document survives a JSON round trip unchanged."""
    series = RunSeries()
    series.add(_slice([3, 4, 5]), at=0.2)
    doc = series.to_json()
    assert json.loads(json.dumps(doc)) == doc


def test_max_points_below_two_is_refused() -> None:
    """A cap that cannot be halved is a programming error."""
    with pytest.raises(ValueError, match="max_points"):
        RunSeries(max_points=1)


def test_cdf_gives_each_targets_latency_at_every_percentile_of_the_whole_run() -> None:
    """cdf: per target, 101 ascending latencies (ms) from the fastest to the slowest answer."""
    series = RunSeries(max_points=2)
    for second in range(6):  # downsampled points; the cdf is of every latency all the same
        series.add(_slice([10] * 90 + [100] * 10), at=second + 1)
        series.add(_slice([20] * 100), target="primary", at=second + 1)
    cdf = series.to_json()["cdf"]
    assert set(cdf) == {"canary", "primary"}
    canary = cdf["canary"]
    assert len(canary) == 101 and canary == sorted(canary)
    assert [canary[0], canary[90]] == pytest.approx([10, 10], rel=0.01)
    assert [canary[91], canary[100]] == pytest.approx([100, 100], rel=0.01)
    assert all(v == pytest.approx(20, rel=0.01) for v in cdf["primary"])


def test_a_target_without_answers_has_no_cdf() -> None:
    """Only failed requests (no latency): the target has points but no cdf."""
    series = RunSeries()
    series.add(_slice([], transport_errors=3), at=1)
    doc = series.to_json()
    assert doc["cdf"] == {} and series.cdf("canary") == [] and series.cdf("primary") == []
