"""The verdict's p-values (loadgen/results/stats.py) against scipy, and the histogram's
approximation of the Mann-Whitney test on raw samples."""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import sys

import pytest
from scipy import stats as scipy_stats

from loadtester.loadgen.results.histogram import Histogram, bucket_bounds, bucket_index
from loadtester.loadgen.results.stats import (
    fisher_greater,
    mann_whitney_greater,
    mann_whitney_greater_samples,
    proportion_greater,
)


def histogram(values: list[int]) -> Histogram:
    """A histogram of integer microsecond values."""
    hist = Histogram()
    for value in values:
        hist.record(value)
    return hist


def bucketed(values: list[int]) -> list[int]:
    """Each value replaced by its bucket's lowest value: what the histogram test sees."""
    return [bucket_bounds(bucket_index(value))[0] for value in values]


def lognormal(rnd: random.Random, n: int, median_us: float, sigma: float) -> list[int]:
    """``n`` latencies in µs around ``median_us``, skewed like real ones."""
    return [int(rnd.lognormvariate(math.log(median_us), sigma)) for _ in range(n)]


def scipy_mwu(x: list[int], y: list[int]) -> float:
    """scipy's one-sided p-value that x is greater (its default method choice)."""
    return float(scipy_stats.mannwhitneyu(x, y, alternative="greater").pvalue)


_RND = random.Random(19)
MWU_CASES = {
    "small, no ties (exact)": ([120, 135, 150, 170, 180], [100, 110, 125, 140, 160, 165]),
    "small, greater": ([200, 210, 220], [100, 110, 120, 130]),
    "one value each": ([7], [3]),
    "exact, one side of 8": ([30, 41, 52, 63, 74, 85, 96, 107],
                             [v * 3 + 1 for v in range(10, 60)]),
    "small, ties": ([5, 6, 6, 7], [5, 5, 6, 8]),
    "ties across sides": ([5, 6], [5]),
    "identical samples": ([10, 20, 30, 40] * 20, [10, 20, 30, 40] * 20),
    "all one value": ([5, 5, 5], [5, 5]),
    "one side nearly empty": ([300], list(range(100, 250))),
    "large, equal": (lognormal(_RND, 1200, 20_000, 0.3), lognormal(_RND, 1200, 20_000, 0.3)),
    "large, canary slower": (lognormal(_RND, 1200, 41_000, 0.3),
                             lognormal(_RND, 1200, 21_000, 0.3)),
    "large, canary faster": (lognormal(_RND, 900, 18_000, 0.3),
                             lognormal(_RND, 1100, 20_000, 0.3)),
    "large, slightly slower": (lognormal(_RND, 2000, 20_400, 0.4),
                               lognormal(_RND, 2000, 20_000, 0.4)),
    "microseconds, exact buckets": (lognormal(_RND, 300, 120, 0.3),
                                    lognormal(_RND, 300, 115, 0.3)),
}


@pytest.mark.parametrize("name", list(MWU_CASES))
def test_mann_whitney_agrees_with_scipy_on_bucketed_values(name: str) -> None:
    """The histogram Mann-Whitney p-value equals scipy.stats.mannwhitneyu(alternative=
    "greater") on the bucketed values within 1e-6, ties and exact cases included."""
    x, y = MWU_CASES[name]
    got = mann_whitney_greater(histogram(x), histogram(y))
    want = scipy_mwu(bucketed(x), bucketed(y))
    assert got == pytest.approx(want, abs=1e-6), (name, got, want)


# raw samples: what a compare run keeps (values past the histogram's exact range, few ties)
RAW_CASES = {
    **MWU_CASES,
    "raw, 50 a side, canary 8 % slower": (lognormal(_RND, 50, 43_200, 0.3),
                                          lognormal(_RND, 50, 40_000, 0.3)),
    "raw, 200 a side, equal": (lognormal(_RND, 200, 40_000, 0.3),
                               lognormal(_RND, 200, 40_000, 0.3)),
    "raw, 5000 a side, canary 1 % slower": (lognormal(_RND, 5000, 3_030, 0.3),
                                            lognormal(_RND, 5000, 3_000, 0.3)),
    "raw, unequal sizes": (lognormal(_RND, 700, 20_500, 0.4), lognormal(_RND, 1900, 20_000, 0.4)),
}


@pytest.mark.parametrize("name", list(RAW_CASES))
def test_mann_whitney_on_raw_samples_agrees_with_scipy(name: str) -> None:
    """mann_whitney_greater_samples equals scipy.stats.mannwhitneyu(alternative="greater") on
    the same raw values within 1e-6 (the test a compare run's verdict makes)."""
    x, y = RAW_CASES[name]
    got = mann_whitney_greater_samples(x, y)
    assert got == pytest.approx(scipy_mwu(x, y), abs=1e-6), name


def test_mann_whitney_of_an_empty_side_is_one() -> None:
    """With no values on a side there is nothing to test: p is 1."""
    assert mann_whitney_greater(Histogram(), histogram([1, 2, 3])) == 1.0
    assert mann_whitney_greater(histogram([1, 2, 3]), Histogram()) == 1.0
    assert mann_whitney_greater_samples([], [1, 2, 3]) == 1.0
    assert mann_whitney_greater_samples([1, 2, 3], []) == 1.0


FISHER_CASES = [
    (0, 10, 0, 10),
    (3, 10, 0, 10),
    (1, 5, 2, 7),
    (5, 5, 0, 5),
    (0, 5, 5, 5),
    (0, 0, 3, 8),
    (2, 30, 1, 30),
    (60, 1200, 0, 1200),
    (15, 1200, 10, 1200),
    (10, 1200, 15, 1200),
    (1, 1200, 0, 1200),
    (1200, 1200, 1200, 1200),
    (500, 20_000, 430, 21_000),
    (9_000, 100_000, 8_800, 100_000),
    (3, 100_000, 0, 5),
]


@pytest.mark.parametrize(("a_bad", "a_total", "b_bad", "b_total"), FISHER_CASES)
def test_fisher_agrees_with_scipy(a_bad: int, a_total: int, b_bad: int, b_total: int) -> None:
    """fisher_greater equals scipy.stats.fisher_exact(alternative="greater") within 1e-6."""
    table = [[a_bad, a_total - a_bad], [b_bad, b_total - b_bad]]
    want = float(scipy_stats.fisher_exact(table, alternative="greater").pvalue)
    assert fisher_greater(a_bad, a_total, b_bad, b_total) == pytest.approx(want, abs=1e-6)


def test_fisher_refuses_impossible_counts() -> None:
    """More bad than total is a programming error, not a p-value."""
    with pytest.raises(ValueError):
        fisher_greater(3, 2, 0, 5)


@pytest.mark.parametrize(("a_bad", "a_total", "b_bad", "b_total"),
                         [(60, 1200, 30, 1200), (25, 1000, 20, 1000), (5, 2000, 9, 2000)])
def test_proportion_test_is_the_pooled_z_test(a_bad: int, a_total: int, b_bad: int,
                                              b_total: int) -> None:
    """proportion_greater is the one-sided pooled two-proportion z-test."""
    pooled = (a_bad + b_bad) / (a_total + b_total)
    z = (a_bad / a_total - b_bad / b_total) / math.sqrt(
        pooled * (1 - pooled) * (1 / a_total + 1 / b_total))
    want = float(scipy_stats.norm.sf(z))
    assert proportion_greater(a_bad, a_total, b_bad, b_total) == pytest.approx(want, abs=1e-9)


def raw_vs_histogram(seed: int, n: int, median_us: float) -> list[tuple[float, float]]:
    """(raw-sample p, histogram p) for 30 pairs of log-normal samples, the canary 0-8 %
    slower (so that p spreads over 1e-4..1)."""
    rnd = random.Random(seed)
    pairs = []
    for _ in range(30):
        slower = 1 + rnd.uniform(0, 0.6) / math.sqrt(n)
        x = lognormal(rnd, n, median_us * slower, 0.3)
        y = lognormal(rnd, n, median_us, 0.3)
        pairs.append((scipy_mwu(x, y), mann_whitney_greater(histogram(x), histogram(y))))
    return pairs


@pytest.mark.parametrize(("n", "median_us"), [(50, 3_000), (50, 40_000), (200, 40_000),
                                              (1200, 3_000), (2000, 40_000)])
def test_histogram_p_value_stays_close_to_raw_samples(n: int, median_us: float) -> None:
    """Bucketing (width <= 1/128 of the value) moves the one-sided p-value little (the figures
    of stats.py's docstring): for p above 1e-4, the median relative difference to scipy on the
    raw samples is within 1 %, every one within 8 %, 0.015 absolute and 0.04 in z."""
    pairs = [(raw, got) for raw, got in raw_vs_histogram(n, n, median_us) if raw > 1e-4]
    assert len(pairs) >= 20
    relative = [abs(got - raw) / raw for raw, got in pairs]
    assert statistics.median(relative) <= 0.01, relative
    assert max(relative) <= 0.08, relative
    for raw, got in pairs:
        assert abs(got - raw) <= 0.015
        z_raw, z_got = scipy_stats.norm.isf(raw), scipy_stats.norm.isf(got)
        assert abs(z_got - z_raw) <= 0.04, (raw, got)


def test_the_service_does_not_import_scipy() -> None:
    """The verdict runs without scipy in the image: importing it loads neither scipy nor
    numpy."""
    code = ("import sys, loadtester.loadgen.results.verdict; "
            "print(sorted(m for m in ('scipy', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
