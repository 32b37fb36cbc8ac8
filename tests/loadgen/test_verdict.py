"""The canary-vs-primary verdict (loadgen/results/verdict.py): the policy's parsing and its
bad input, and the verdict on synthetic results of a 200 req/s, 10 s compare run."""

from __future__ import annotations

import json

import pytest

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.results.verdict import (
    RegressionPolicy,
    Verdict,
    format_p,
    judge,
    parse_policy,
)

# 2000 latencies spread evenly over 15-27 ms (200 req/s for 10 s), in a fixed order
PRIMARY_US = [15_000 + (i * 7919) % 12_000 for i in range(2000)]
SLOWER_US = [value + 20_000 for value in PRIMARY_US]  # the canary, 20 ms slower


def result(latencies_us: list[int], errors: int = 0) -> LoadResult:
    """A run's result: each latency an answer, the last ``errors`` of them 503s."""
    run = LoadResult(elapsed=10.0, target_rate=200.0)
    for value in latencies_us:
        run.histogram.record(value)
    run.status_counts = {200: len(latencies_us) - errors}
    if errors:
        run.status_counts[503] = errors
    return run


def policy(text: str, significance: str | None = None, min_samples: str | None = None,
           require_verdict: str | None = None) -> RegressionPolicy:
    """A parsed policy (never None here)."""
    parsed = parse_policy(text, significance, min_samples, require_verdict)
    assert parsed is not None
    return parsed


def test_policy_parses_margins_and_defaults() -> None:
    """Margins keep their order, the % sign is optional, and the defaults are 0.05, 50, false."""
    assert policy("p99=20%, p50=10, errorRate=0.5%") == RegressionPolicy(
        margins=(("p99", 20.0), ("p50", 10.0), ("errorRate", 0.5)),
        significance=0.05, min_samples=50, require_verdict=False)
    assert policy(" p90 = 5 % ,p95=0", "0.01", "200", "true") == RegressionPolicy(
        margins=(("p90", 5.0), ("p95", 0.0)), significance=0.01, min_samples=200,
        require_verdict=True)


def test_no_policy_without_any_field() -> None:
    """A run that sets none of the four fields has no verdict."""
    assert parse_policy(None, None, None, None) is None


@pytest.mark.parametrize(("fields", "message"), [
    (("p99=20%, p75=5", None, None, None),
     "maxRegression: unknown metric 'p75' (one of p50, p90, p95, p99, errorRate)"),
    (("p99=-5%", None, None, None),
     "maxRegression: p99 margin must be a finite number >= 0, got '-5'"),
    (("p99 20%", None, None, None), "maxRegression: 'p99 20%' is not metric=margin (e.g. p99=20%)"),
    (("=20", None, None, None), "maxRegression: '=20' is not metric=margin (e.g. p99=20%)"),
    (("p99=fast", None, None, None), "maxRegression: p99 margin 'fast' is not a number"),
    (("p99=nan", None, None, None),
     "maxRegression: p99 margin must be a finite number >= 0, got 'nan'"),
    (("p99=1, p99=2", None, None, None), "maxRegression: p99 is given twice"),
    ((" , ", None, None, None),
     "maxRegression names no metric (e.g. 'p99=20%, errorRate=0.5')"),
    ((None, "0.05", None, None),
     "maxRegression is required with significance, minSamples or requireVerdict "
     "(e.g. 'p99=20%, errorRate=0.5')"),
    (("p99=20", "0", None, None), "significance must be between 0 and 1 (exclusive), got '0'"),
    (("p99=20", "1", None, None), "significance must be between 0 and 1 (exclusive), got '1'"),
    (("p99=20", "-0.1", None, None),
     "significance must be between 0 and 1 (exclusive), got '-0.1'"),
    (("p99=20", "5%", None, None), "significance '5%' is not a number"),
    (("p99=20", None, "0", None), "minSamples must be at least 1, got 0"),
    (("p99=20", None, "many", None), "minSamples 'many' is not an integer"),
    (("p99=20", None, None, "maybe"), "requireVerdict 'maybe' is not true or false"),
])
def test_bad_policy_is_one_line_naming_the_field(
        fields: tuple[str | None, str | None, str | None, str | None], message: str) -> None:
    """Each bad field answers LoadSpecError (a 400) with one line naming it."""
    with pytest.raises(LoadSpecError) as caught:
        parse_policy(*fields)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_twenty_ms_slower_canary_fails_with_the_body() -> None:
    """A canary 20 ms slower than its primary fails on p99, the message in the issue's form."""
    verdict = judge(result(SLOWER_US), result(PRIMARY_US), policy("p99=20%"))
    assert verdict.outcome == "fail" and not verdict.passed
    assert verdict.message == ("canary p99 47ms vs primary 27ms (+75% > 20%), "
                               "Mann-Whitney U p<0.00001 over 2000/2000 requests")


def test_several_failures_join_with_semicolons() -> None:
    """Every failed metric is in the message, in the policy's order, joined with '; '."""
    verdict = judge(result(SLOWER_US), result(PRIMARY_US), policy("p99=20%, p50=10%"))
    assert verdict.message == (
        "canary p99 47ms vs primary 27ms (+75% > 20%), Mann-Whitney U p<0.00001 over "
        "2000/2000 requests; canary p50 41ms vs primary 21ms (+95% > 10%), Mann-Whitney U "
        "p<0.00001 over 2000/2000 requests")
    assert [row.failed for row in verdict.details] == [True, True]


def test_equal_latency_passes() -> None:
    """The same latencies on both sides pass, with a short summary per metric."""
    verdict = judge(result(PRIMARY_US), result(PRIMARY_US),
                    policy("p99=20%, p50=10%, errorRate=0.5"))
    assert verdict.outcome == "pass" and verdict.passed
    assert verdict.message == (
        "canary p99 27ms vs primary 27ms (+0%), within 20%; canary p50 21ms vs primary 21ms "
        "(+0%), within 10%; canary error rate 0.0% vs primary 0.0% (+0.0 points), within 0.5")


def test_five_percent_errors_fail_on_error_rate() -> None:
    """5 % errors (503s) against none fail on errorRate with Fisher's test, latency passing."""
    verdict = judge(result(PRIMARY_US, errors=100), result(PRIMARY_US),
                    policy("p99=20%, errorRate=0.5"))
    assert verdict.outcome == "fail"
    assert verdict.message == ("canary error rate 5.0% vs primary 0.0% (+5.0 points > 0.5), "
                               "Fisher p<0.00001 over 2000/2000 requests")
    assert [row.metric for row in verdict.details if row.failed] == ["errorRate"]


def test_transport_errors_count_as_errors() -> None:
    """Requests with no answer (refused, timed out) count against the error rate."""
    canary = result(PRIMARY_US)
    canary.errors = {"refused": 150}
    verdict = judge(canary, result(PRIMARY_US), policy("errorRate=1"))
    assert verdict.message.startswith("canary error rate 7.0% vs primary 0.0% (+7.0 points > 1)")
    assert verdict.message.endswith("over 2150/2000 requests")


def test_worse_but_not_significant_passes() -> None:
    """A p99 over the margin that the Mann-Whitney test does not find significant passes."""
    ordered = sorted(PRIMARY_US)
    outliers = ordered[:-40] + [value * 2 for value in ordered[-40:]]
    verdict = judge(result(outliers), result(PRIMARY_US), policy("p99=20%"))
    assert verdict.outcome == "pass"
    assert verdict.message.startswith("canary p99 54ms vs primary 27ms (+100% > 20%), "
                                      "not significant (Mann-Whitney U p=0.")


def test_few_errors_are_not_significant() -> None:
    """One error in 60 against none is over a 0.5-point margin but not significant."""
    verdict = judge(result(PRIMARY_US[:60], errors=1), result(PRIMARY_US[:60]),
                    policy("errorRate=0.5"))
    assert verdict.outcome == "pass"
    assert verdict.message == ("canary error rate 1.7% vs primary 0.0% (+1.7 points > 0.5), "
                               "not significant (Fisher p=0.50000)")


def test_small_samples_are_inconclusive_and_pass_unless_required() -> None:
    """30 answers a side, below minSamples 50: inconclusive, which passes unless
    requireVerdict is true."""
    canary, primary = result(SLOWER_US[:30]), result(PRIMARY_US[:30])
    verdict = judge(canary, primary, policy("p99=20%, errorRate=0.5"))
    assert verdict.outcome == "inconclusive" and verdict.passed
    assert verdict.message == "inconclusive: 30/30 requests, need 50"
    required = judge(canary, primary, policy("p99=20%, errorRate=0.5", require_verdict="true"))
    assert required.outcome == "inconclusive" and not required.passed
    assert required.message == "inconclusive: 30/30 requests, need 50"
    judged = judge(canary, primary, policy("p99=20%", min_samples="30"))
    assert judged.outcome == "fail"


def test_verdict_is_json() -> None:
    """to_json gives plain JSON: outcome, message, passed and a row per metric."""
    verdict = judge(result(SLOWER_US), result(PRIMARY_US), policy("p99=20%, errorRate=0.5"))
    doc = json.loads(json.dumps(verdict.to_json(), allow_nan=False))
    assert doc["outcome"] == "fail" and doc["passed"] is False
    assert doc["message"] == verdict.message
    p99, errors = doc["details"]
    assert p99["metric"] == "p99" and p99["failed"] is True and p99["margin"] == 20.0
    assert p99["canary"] > p99["primary"] > 0 and p99["pValue"] < 1e-5
    assert errors == {"metric": "errorRate", "canary": 0.0, "primary": 0.0, "change": 0.0,
                      "margin": 0.5, "pValue": 1.0, "failed": False}
    assert isinstance(verdict, Verdict)


@pytest.mark.parametrize(("p_value", "text"), [(0.21, "p=0.21000"), (0.00002, "p=0.00002"),
                                               (0.00001, "p=0.00001"), (1e-9, "p<0.00001")])
def test_p_values_read_with_five_decimals(p_value: float, text: str) -> None:
    """p-values print with five decimals; smaller than that as p<0.00001."""
    assert format_p(p_value) == text
