"""Scenarios: stages and request mixes parsed, compiled and run against a real nginx, whose
access log counts what each request got."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.mix import interleave
from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.input.stages import parse_stages
from loadtester.loadgen.results.thresholds import Thresholds
from loadtester.loadgen.running.local import run_local
from loadtester.loadgen.running.mixengine import split_connections
from loadtester.loadgen.running.shares import plan_shares
from loadtester.loadgen.running.workers import run_load
from loadtester.tasks.load import judge
from tests.support.loadgen_cli import run_cli
from tests.support.nginx import Nginx


def _scenario(nginx: Nginx, text: str, concurrency: int, requests: int | None = None) -> LoadSpec:
    """A scenario's spec, relative URLs resolved against nginx."""
    base = LoadSpec(url=nginx.url, concurrency=concurrency, requests=requests)
    return scenario_spec(parse_scenario(text, nginx.url), base)


@pytest.mark.parametrize(("stages", "reason"), [
    ("30s", "stages '30s' is not 'duration:rate' or 'duration:from->to'"),
    ("30:10", "stages '30:10': duration '30': invalid duration '30': missing unit"),
    ("30s:ten", "stages '30s:ten': rate 'ten' is not a number"),
    ("30s:0->-5", "stages '30s:0->-5': rate '-5' must be between 0"),
    ("0s:10", "stages '0s:10': duration '0s' must be positive"),
    ("10s:0, 5s:0", "stages send no request: every rate is 0"),
    ("", "stages: no stage given"),
])  # fmt: skip
def test_stage_errors(stages: str, reason: str) -> None:
    """A stages string that cannot be run is refused with one line naming the stage."""
    with pytest.raises(LoadSpecError) as caught:
        parse_stages(stages)
    assert str(caught.value).startswith(reason) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "reason"), [
    ("requests: [", "scenario is not valid YAML or JSON: "),
    ('{"requests": [}', "scenario is not valid JSON: "),
    ("- a\n- b", "scenario must be a mapping with requests"),
    ("requests: []", "scenario requests must be a non-empty list"),
    ("requests: [{url: /}]\nrate: 5", "scenario: unknown key 'rate'"),
    ("requests: [{url: /, heders: {}}]", "scenario requests[0]: unknown key 'heders'"),
    ("requests: [{method: GET}]", "scenario requests[0]: url is required"),
    ("requests: [{url: ftp://x/}]", "scenario requests[0]: url 'ftp://x/' is not an http://"),
    ("requests: [{url: /, weight: 2.5}]", "scenario requests[0]: weight must be a whole number"),
    ("requests: [{url: /, weight: 0}]", "scenario requests[0]: weight must be a whole number"),
    ("requests: [{url: /, headers: [a]}]", "scenario requests[0] headers must be a mapping"),
    ("requests: [{url: /, headers: {'a b': c}}]", "scenario requests[0]: invalid header name"),
    ("requests: [{url: /, expect: {status: ok}}]", "scenario requests[0] expect status must be"),
    ("requests: [{url: /, expect: {body: '(('}}]", "scenario requests[0] expect body: invalid"),
    ("requests: [{url: /, expect: {maxLatency: fast}}]",
     "scenario requests[0] expect maxLatency: invalid duration 'fast'"),
    ("requests: [{url: /, thresholds: {maxP99: x}}]", "scenario requests[0] thresholds: maxP99"),
    ("requests: [{url: /, thresholds: {p99: 1}}]", "scenario requests[0] thresholds: unknown key"),
    ("requests: [{url: /a}, {url: /a}]", "scenario requests[1]: 'GET /a' names two requests"),
    ("requests: [{url: /a, weight: 9999}, {url: /b, weight: 2}]",
     "scenario weights add up to 10001"),
    ("stages: 5s\nrequests: [{url: /}]", "scenario stages '5s' is not 'duration:rate'"),
])  # fmt: skip
def test_scenario_errors(text: str, reason: str) -> None:
    """A scenario that cannot be run is refused with one line naming the culprit."""
    with pytest.raises(LoadSpecError) as caught:
        parse_scenario(text, "http://127.0.0.1:1/")
    assert str(caught.value).startswith(reason) and "\n" not in str(caught.value)


def test_relative_url_needs_a_base() -> None:
    """A request URL that is a path needs the run's url to resolve it."""
    with pytest.raises(LoadSpecError, match="is a path and no url is given"):
        parse_scenario("requests: [{url: /api}]")
    scenario = parse_scenario("requests: [{url: /api, method: post}]", "http://h:81/base/")
    assert (scenario.requests[0].url, scenario.requests[0].name) == ("http://h:81/api", "POST /api")


def test_interleaving_holds_every_share_within_one() -> None:
    """Every prefix of the order holds each request's share to within one request."""
    rng = random.Random(7)
    cases = [[80, 15, 5], [1, 1], [3], [1, 100, 100, 5, 5, 1], [2, 2, 2, 2, 167, 2, 2, 2, 2, 5]]
    cases += [[rng.randint(1, 60) for _ in range(rng.randint(2, 12))] for _ in range(40)]
    for weights in cases:
        order = interleave(weights)
        assert len(order) == sum(weights) // math.gcd(*weights)
        total = sum(weights)
        seen = [0] * len(weights)
        for m in range(1, 1001):
            seen[order[(m - 1) % len(order)]] += 1
            for k, weight in enumerate(weights):
                assert abs(seen[k] - m * weight / total) < 1, (weights, m, k)


def test_stage_schedule_sends_each_integral() -> None:
    """Each stage's requests (over all workers' schedules) are its integral to within one."""
    profile = parse_stages("30s:0->100, 2m:100, 45s:100->7, 10s:0, 3s:5")
    assert [round(c, 6) for c in profile.stage_targets()] == [1500, 12000, 2407.5, 0, 15]
    for workers in (1, 3):
        per_stage = [0] * len(profile.stages)
        previous = -1.0
        for k in range(workers):
            g, stage = k, 0
            while True:
                t, stage = profile.due(g, stage)
                if t < 0:
                    break
                per_stage[stage] += 1
                assert profile.starts[stage] <= t <= profile.starts[stage + 1]
                if workers == 1:
                    assert t >= previous
                    previous = t
                g += workers
        for sent, target in zip(per_stage, profile.stage_targets(), strict=True):
            assert abs(sent - target) <= 1
        assert sum(per_stage) == math.ceil(profile.total)


def test_shares_number_the_workers() -> None:
    """plan_shares numbers the workers, which stride through the run's requests."""
    shares = plan_shares(LoadSpec(url="http://x/", requests=10, concurrency=4), 3)
    assert [(s.index, s.workers, s.requests) for s in shares] == [(0, 3, 4), (1, 3, 3), (2, 3, 3)]
    assert split_connections(10, [80, 15, 5]) == [8, 1, 1]
    assert split_connections(2, [1, 1, 1]) == [1, 1, 1]


MIX = """
requests:
  - name: home
    url: /
    weight: 5
    expect: {status: [200], body: '"status":"ok"', maxLatency: 30s}
  - url: /api/items
    weight: 3
    headers: {X-Client: test}
  - name: order
    method: POST
    url: /api/orders
    body: '{"item": 1}'
    weight: 1
    expect: {status: [201]}
"""


@pytest.mark.system
async def test_mix_counts_match_the_access_log(nginx: Nginx) -> None:
    """A 3-request mix over 2 workers: nginx answered each request its share, within one."""
    spec = _scenario(nginx, MIX, requests=1000, concurrency=6)
    result = await run_load(spec, workers=2)
    seen = nginx.counts(result.total)
    assert seen == {"GET /": result.requests["home"].total,
                    "GET /api/items": result.requests["GET /api/items"].total,
                    "POST /api/orders": result.requests["order"].total}
    assert sum(seen.values()) == result.total == 1000
    for name, weight in (("home", 5), ("GET /api/items", 3), ("order", 1)):
        assert abs(result.requests[name].total - 1000 * weight / 9) < 1
    assert result.requests["order"].status_counts == {201: seen["POST /api/orders"]}
    assert result.checks == {} and result.error_rate == 0
    doc = result.to_json()
    assert doc["requests"] == 1000 and doc["check_failures"] == {}
    assert doc["by_request"]["order"]["status_codes"] == {"201": seen["POST /api/orders"]}
    assert doc["by_request"]["home"]["checks"]["body"] == 'check body /"status":"ok"/ failed'


@pytest.mark.system
async def test_failed_checks_are_failed_requests(nginx: Nginx) -> None:
    """Answers failing a status or body check count per check, in the error rate, and the
    threshold's reason names each failed check with its request."""
    text = """
requests:
  - {name: down, url: /down, expect: {body: '"status":"ok"'}}
  - {name: created, url: /, expect: {status: [201]}}
  - {name: big, url: /big, expect: {body: 'needle$'}, weight: 2}
  - {name: broken, url: /broken, expect: {status: [200]}}
"""
    spec = _scenario(nginx, text, requests=200, concurrency=4)
    result = await run_local(spec)
    seen = nginx.counts(200)
    assert seen == {"GET /down": 40, "GET /": 40, "GET /big": 80, "GET /broken": 40}
    assert result.requests["down"].checks == {"body": 40}
    assert result.requests["created"].checks == {"status": 40}
    assert result.requests["big"].checks == {}  # matched at the end of a 3 kB body
    assert result.requests["broken"].checks == {"status": 40}
    assert result.checks == {"body": 40, "status": 80}
    assert result.failed == 120  # the 503s count once, as 5xx
    assert result.requests["down"].error_rate == 100.0
    assert result.requests["big"].error_rate == 0.0
    assert judge(result, Thresholds(max_error_rate=10)) == (
        "error rate 60% > 10% over 200 requests, failed checks: down body 40, "
        "created status 40, broken status 40")
    part = result.requests["down"]
    assert judge(part, Thresholds(max_error_rate=1)) == (
        'error rate 100% > 1% over 40 requests, check body /"status":"ok"/ failed (40)')


@pytest.mark.system
async def test_request_thresholds_name_the_request(nginx: Nginx) -> None:
    """A broken per-request threshold fails the run naming the request; others pass."""
    text = """
requests:
  - {url: /, weight: 3, thresholds: {maxP99: 30s, maxErrorRate: 1}}
  - {method: POST, url: /api/orders, thresholds: {maxP99: 1us}}
"""
    spec = _scenario(nginx, text, requests=80, concurrency=2)
    result = await run_local(spec)
    assert nginx.counts(80) == {"GET /": 60, "POST /api/orders": 20}
    assert spec.mix is not None
    limits = spec.mix.thresholds()
    assert list(limits) == ["GET /", "POST /api/orders"]
    reason = judge(result, Thresholds(), limits)
    assert reason is not None
    assert reason.startswith("POST /api/orders: p99 ")
    assert reason.endswith(" > 1µs over 20 requests, 0% errors")


@pytest.mark.system
async def test_staged_run_sends_each_stage(nginx: Nginx) -> None:
    """A ramp over 2 workers: each stage sent its integral, which nginx answered."""
    text = """
stages: [{duration: 1s, target: 120}, {duration: 1s, rate: 120}, "1s:120->0"]
requests: [{url: /, weight: 2}, {url: /api/items}]
"""
    spec = _scenario(nginx, text, concurrency=6)
    assert (spec.rate, spec.duration) == (120, 3.0)
    result = await run_load(spec, workers=2)
    assert result.stage_targets == [60, 120, 60]
    # on a busy machine the last requests of the ramp-down may miss the end: never sent
    assert result.stage_sent[:2] == [60, 120], result.to_json()
    assert result.stage_sent[2] + result.unsent == 60, result.to_json()
    seen = nginx.counts(result.total)
    assert seen == {"GET /": result.requests["GET /"].total,
                    "GET /api/items": result.requests["GET /api/items"].total}
    assert sum(seen.values()) == result.total == 240
    assert result.to_json()["stages"] == [
        {"target": target, "sent": sent}
        for target, sent in zip((60, 120, 60), result.stage_sent, strict=True)]


@pytest.mark.system
async def test_plain_url_with_stages(nginx: Nginx) -> None:
    """Stages ramp a plain single-URL run too, in the calling process."""
    from loadtester.loadgen.input.scenario import with_stages

    spec = with_stages(LoadSpec(url=nginx.url + "api/items", concurrency=2),
                       parse_stages("500ms:0->100, 500ms:100->0"))
    result = await run_local(spec)
    assert result.stage_sent == [25, 25]
    assert nginx.counts(50) == {"GET /api/items": 50} and result.total == 50
    with pytest.raises(LoadSpecError, match="a rate and stages are both given"):
        with_stages(LoadSpec(url=nginx.url, rate=5), parse_stages("1s:1"))



@pytest.mark.system
async def test_cli_runs_a_scenario_file(nginx: Nginx, tmp_path: Path) -> None:
    """`loadtester load -f` with -n and -c: JSON per request, matching nginx's log."""
    path = tmp_path / "scenario.yaml"
    path.write_text(MIX.replace("url: /api/orders", f"url: {nginx.url}api/orders"))
    code, out, err = await run_cli("-f", str(path), "-n", "90", "-c", "3", "-o", "json", nginx.url)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["requests"] == 90 and doc["check_failures"] == {}
    assert nginx.counts(90) == {"GET /": 50, "GET /api/items": 30, "POST /api/orders": 10}
    assert {name: part["requests"] for name, part in doc["by_request"].items()} == {
        "home": 50, "GET /api/items": 30, "order": 10}
    assert doc["by_request"]["order"]["status_codes"] == {"201": 10}
    code, out, err = await run_cli("-f", str(path), "-n", "18", "-c", "2", nginx.url)
    assert code == 0, err
    assert "Summary:" in out and "Requests:" in out
    [row] = [line.split() for line in out.splitlines() if line.strip().startswith("order ")]
    assert (row[0], row[1], row[-1]) == ("order", "2", "-")


async def test_cli_refuses_flags_a_scenario_sets(tmp_path: Path) -> None:
    """Per-request flags, and -q/-z/-n with stages, exit 2 with one line."""
    path = tmp_path / "s.yaml"
    path.write_text("stages: '1s:10'\nrequests: [{url: 'http://127.0.0.1:1/'}]\n")
    for argv, reason in ((["-m", "POST"], "flag -m does not apply with -f"),
                         (["-z", "5s"], "flag -z conflicts with the scenario's stages")):
        code, out, err = await run_cli("-f", str(path), *argv)
        assert (code, out) == (2, "")
        assert err.startswith(f"loadtester load: {reason}") and err.count("\n") == 1
    code, _, err = await run_cli("-f", str(tmp_path / "missing.yaml"))
    assert code == 2 and "invalid value for flag -f: No such file or directory" in err
