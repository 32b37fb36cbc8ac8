"""The log-linear latency histogram: precision, merging, wire form."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from loadtester.loadgen.results.details import Details
from loadtester.loadgen.results.histogram import (
    INT64_MAX,
    MAX_VALUE_US,
    Histogram,
    bucket_bounds,
    bucket_index,
)


def _exact(sorted_values: list[int], p: float) -> int:
    rank = max(1, math.ceil(p / 100 * len(sorted_values) - 1e-9))
    return sorted_values[rank - 1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_within_one_percent(seed: int) -> None:
    """Percentiles of lognormal latencies are within 1% of the exact nearest-rank values."""
    rng = random.Random(seed)
    values = [int(rng.lognormvariate(8, 1.5)) for _ in range(20_000)]
    hist = Histogram()
    for value in values:
        hist.record(value)
    ordered = sorted(values)
    for p in (1, 10, 25, 50, 75, 90, 95, 99, 99.9):
        exact = _exact(ordered, p)
        assert abs(hist.percentile(p) - exact) <= max(1, 0.01 * exact), p
    assert hist.percentile(100) == hist.max == ordered[-1]
    assert hist.min == ordered[0]
    assert hist.count == len(values)
    assert hist.mean == pytest.approx(sum(values) / len(values))


def test_small_values_are_exact() -> None:
    """Values below 256 µs are counted exactly."""
    hist = Histogram()
    for value in range(1, 201):
        hist.record(value)
    assert hist.percentile(50) == 100
    assert hist.percentile(99) == 198


def test_buckets_are_contiguous_and_narrow() -> None:
    """Each value lands in a bucket that contains it and is at most 1/128 of it wide."""
    for value in [0, 1, 255, 256, 257, 1000, 65_535, 65_536, 10**6, 10**9, MAX_VALUE_US]:
        low, high = bucket_bounds(bucket_index(value))
        assert low <= value <= high
        assert high - low <= max(0, value / 128)
    for index in range(1, bucket_index(MAX_VALUE_US)):
        assert bucket_bounds(index)[0] == bucket_bounds(index - 1)[1] + 1


def test_merge_equals_recording_everything() -> None:
    """Merging two histograms equals one histogram of all values."""
    rng = random.Random(7)
    a, b, both = Histogram(), Histogram(), Histogram()
    for i in range(5000):
        value = rng.randrange(1, 5_000_000)
        (a if i % 2 else b).record(value)
        both.record(value)
    a.merge(b)
    assert a.counts == both.counts
    assert (a.count, a.min, a.max, a.total_us) == (both.count, both.min, both.max, both.total_us)


def test_record_counts_each_value_in_its_bucket() -> None:
    """record() finds the bucket from a value's highest byte: the bucket bucket_index gives,
    on both sides of every power of two up to the cap."""
    values = [v for bit in range(7, 32) for v in (2**bit - 1, 2**bit, 2**bit + 1, 3 << bit)]
    for value in [v for v in values if v <= MAX_VALUE_US] + [MAX_VALUE_US]:
        hist = Histogram()
        hist.record(value)
        assert hist.counts[bucket_index(value)] == 1, value


def test_pickled_histogram_is_the_same() -> None:
    """A histogram pickled to another process (a worker's interval) keeps every count."""
    hist = Histogram()
    for value in (0, 5, 300, 70_000, 20_000_000, MAX_VALUE_US):
        hist.record(value)
    again = pickle.loads(pickle.dumps(hist))
    assert again.counts == hist.counts
    assert (again.count, again.min, again.max, again.total_us) == (
        hist.count, hist.min, hist.max, hist.total_us)


def test_wire_round_trip_and_empty() -> None:
    """The compact wire form rebuilds the same histogram; an empty one reports zeros."""
    hist = Histogram()
    for value in (5, 500, 50_000, 5_000_000, MAX_VALUE_US * 2, -3):
        hist.record(value)
    again = Histogram.from_wire(hist.to_wire())
    assert again.counts == hist.counts
    assert again.max == MAX_VALUE_US and again.min == 0
    assert len(hist.to_wire()["b"]) == 6
    empty = Histogram()
    assert (empty.percentile(99), empty.mean, empty.count) == (0, 0.0, 0)


def test_bucket_counts_for_prometheus() -> None:
    """Counts split at Prometheus bucket bounds (seconds), with a final +Inf bucket."""
    hist = Histogram()
    for us in (100, 900, 1000, 4000, 30_000, 2_000_000):
        hist.record(us)
    assert hist.bucket_counts([0.001, 0.005, 0.1]) == [3, 1, 1, 1]
    assert sum(hist.bucket_counts([])) == 6


def test_values_past_64_bits_are_refused_alike_compiled_or_not() -> None:
    """Up to 64 bits a huge latency counts as one hour; past them record raises OverflowError,
    and a wire form ValueError, both in the compiled build (C 64-bit fields) and on the
    sources, so the two never differ."""
    hist = Histogram()
    hist.record(INT64_MAX)
    hist.record(-INT64_MAX - 1)
    assert (hist.max, hist.min, hist.count) == (MAX_VALUE_US, 0, 2)
    for huge in (INT64_MAX + 1, 2**70, -(2**70)):
        with pytest.raises(OverflowError):
            hist.record(huge)
    assert hist.count == 2
    wire = hist.to_wire()
    with pytest.raises(ValueError, match="64-bit"):
        Histogram.from_wire({**wire, "sum": 2**70})
    details = Details().to_wire()
    with pytest.raises(ValueError, match="64-bit"):
        Details.from_wire({**details, "size": 2**64})
