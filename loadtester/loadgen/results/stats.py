"""One-sided tests for a canary-vs-primary comparison, in pure Python (no scipy in the image).

:func:`mann_whitney_greater_samples` is the Mann-Whitney U test that the canary's latencies are
stochastically greater than the primary's, on the raw latencies (integer µs) a compare run keeps
(up to ``SAMPLE_CAP`` per target, results/result.py); :func:`mann_whitney_greater` the same test
read from the two :class:`Histogram` s, which the verdict falls back to past that cap: each
bucket stands for its lowest value (exact below 256 µs), so values in one bucket are ties. Both
give their values as counts per distinct value, in ascending order, to one rank computation
(:func:`_mann_whitney`), which computes what ``scipy.stats.mannwhitneyu(x, y,
alternative="greater")`` (``method="auto"``) gives on those values: the exact distribution of U
when there are no ties and one sample has at most 8 values (as scipy; only while that sample
times the other stays under 200 000, above which the asymptotic form is used), else the normal
approximation with the tie correction and the continuity correction.

Histogram against raw samples: a bucket is at most 1/128 of its value wide, so bucketing only
turns near-equal values into ties (scored half a pair each, which is unbiased), but it loses
their order, and the p-value moves by the equivalent of a few pairs of U. Measured by
tests/loadgen/test_stats.py on log-normal latencies (sigma 0.3, medians 3 ms and 40 ms,
50-5000 values a side, p between 1e-4 and 1): the median relative difference to scipy on the
raw samples is 0.3-1 %, and 50 % (50 a side) to 80 % (1200 and more) of the cases are within
1 % relative; the largest differences seen are 7.5 % relative (n=50), 4 % (n>=200), 0.0125
absolute and 0.035 in z (the test's scale); at 20 000 and 100 000 a side (larger runs,
measured once) the median 0.4-0.6 % and the largest 1.2-1.6 %. That misses the issue's
1 %, hence the raw samples up to the cap. Near p=0.05 the histograms give 0.048-0.052 at worst,
so the decision differs from the raw-sample test only when p is that close to the significance.

:func:`fisher_greater` is Fisher's exact test that the canary's error proportion is greater than
the primary's (``scipy.stats.fisher_exact(..., alternative="greater")``): a hypergeometric tail
summed from :func:`math.lgamma` terms, stopping once the terms no longer count (below 1e-18 of
the sum), so it is exact to far better than 1e-6 and costs at most a few thousand terms for any
run size. The verdict uses it at every count; :func:`proportion_greater` (the pooled
two-proportion z-test) is there for callers that want the large-sample form.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from loadtester.loadgen.results.histogram import Histogram

__all__ = ["fisher_greater", "mann_whitney_greater", "mann_whitney_greater_samples",
           "proportion_greater"]

_EXACT_MAX_SMALL = 8  # scipy's "auto": exact when a sample has at most 8 values and no ties
_EXACT_MAX_PRODUCT = 200_000  # n1 * n2: the size of the exact distribution we compute


def _normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_greater(x: Histogram, y: Histogram) -> float:
    """One-sided p-value that ``x`` (canary) is stochastically greater than ``y`` (primary),
    from their buckets (each bucket's values tied); 1.0 when either is empty or every value is
    the same."""
    return _mann_whitney(zip(x.counts, y.counts, strict=True), x.count, y.count)


def mann_whitney_greater_samples(x: Sequence[int], y: Sequence[int]) -> float:
    """One-sided p-value that the raw latencies ``x`` (canary) are stochastically greater than
    ``y`` (primary): exactly ``scipy.stats.mannwhitneyu(x, y, alternative="greater")``; 1.0
    when either is empty or every value is the same."""
    by_x, by_y = Counter(x), Counter(y)
    groups = ((by_x[value], by_y[value]) for value in sorted(by_x.keys() | by_y.keys()))
    return _mann_whitney(groups, len(x), len(y))


def _mann_whitney(groups: Iterable[tuple[int, int]], n1: int, n2: int) -> float:
    """The test from ``groups``: for each distinct value in ascending order, how many times
    ``x`` and ``y`` have it (a pair of zeros is skipped); ``n1``, ``n2`` the sample sizes."""
    if n1 == 0 or n2 == 0:
        return 1.0
    rank_sum = 0.0  # of x
    tie_term = 0  # sum of t^3 - t over tied groups
    seen = 0
    ties = False
    for cx, cy in groups:
        t = cx + cy
        if not t:
            continue
        if cx:
            rank_sum += cx * (seen + (t + 1) / 2.0)
        if t > 1:
            ties = True
            tie_term += t * t * t - t
        seen += t
    u1 = rank_sum - n1 * (n1 + 1) / 2.0
    if not ties and min(n1, n2) <= _EXACT_MAX_SMALL and n1 * n2 <= _EXACT_MAX_PRODUCT:
        return _exact_sf(round(u1), n1, n2)
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u1 - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    return _normal_sf(z)


def _exact_sf(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under the null: U counts pairs, its distribution the coefficients of the
    Gaussian binomial [n1 + n2 choose m]_q (m the smaller size), built in exact integers."""
    m, n = min(n1, n2), max(n1, n2)
    degree = m * n
    if u <= 0:
        return 1.0
    if u > degree:
        return 0.0
    poly = [1] + [0] * degree
    # prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i); each step keeps a polynomial (exact division)
    for i in range(1, m + 1):
        shift = n + i
        for k in range(degree, shift - 1, -1):
            poly[k] -= poly[k - shift]
        for k in range(i, degree + 1):
            poly[k] += poly[k - i]
    total = math.comb(n1 + n2, m)
    return sum(poly[u:]) / total


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(a_bad: int, a_total: int, b_bad: int, b_total: int) -> float:
    """One-sided Fisher exact p-value that ``a``'s proportion of bad is greater than ``b``'s:
    P(X >= a_bad) for X hypergeometric with the table's margins; 1.0 for an empty row or
    column (as scipy)."""
    if not (0 <= a_bad <= a_total and 0 <= b_bad <= b_total):
        raise ValueError("counts must satisfy 0 <= bad <= total")
    n = a_total + b_total
    bad = a_bad + b_bad
    if a_total == 0 or b_total == 0 or bad == 0 or bad == n:
        return 1.0
    low, high = max(0, bad - b_total), min(bad, a_total)
    base = _log_comb(n, a_total)

    def pmf(k: int) -> float:
        return math.exp(_log_comb(bad, k) + _log_comb(n - bad, a_total - k) - base)

    mode = int((a_total + 1) * (bad + 1) / (n + 2))
    if a_bad > mode:  # the upper tail is the small one: sum it upward
        return min(1.0, _tail(pmf, a_bad, high, 1))
    # the lower tail below a_bad is the small one: 1 minus it
    return max(0.0, 1.0 - _tail(pmf, a_bad - 1, low, -1))


def _tail(pmf: Callable[[int], float], start: int, stop: int, step: int) -> float:
    """Sum of pmf(k) from ``start`` towards ``stop`` (inclusive), away from the mode, ending
    once the terms are negligible."""
    if (stop - start) * step < 0:
        return 0.0
    total = 0.0
    for k in range(start, stop + step, step):
        term = pmf(k)
        total += term
        if term < 1e-18 * total or term == 0.0:
            break
    return total


def proportion_greater(a_bad: int, a_total: int, b_bad: int, b_total: int) -> float:
    """One-sided pooled two-proportion z-test p-value that ``a``'s proportion of bad is greater
    than ``b``'s (no continuity correction); 1.0 when it cannot tell (empty, or no spread)."""
    if a_total == 0 or b_total == 0:
        return 1.0
    pooled = (a_bad + b_bad) / (a_total + b_total)
    spread = pooled * (1.0 - pooled) * (1.0 / a_total + 1.0 / b_total)
    if spread <= 0:
        return 1.0
    z = (a_bad / a_total - b_bad / b_total) / math.sqrt(spread)
    return _normal_sf(z)
