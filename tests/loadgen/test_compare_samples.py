"""A compare run's raw latencies (running/samples.py, LoadResult.samples): kept by both
targets' engines in this process and in worker processes, carried by the wire form and the
merge, bounded by SAMPLE_CAP, and read by the verdict's Mann-Whitney test."""

from __future__ import annotations

import json
from array import array

import pytest
from scipy import stats as scipy_stats

from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results import result as result_module
from loadtester.loadgen.results import verdict as verdict_module
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.results.verdict import judge, parse_policy
from loadtester.loadgen.running import paired
from loadtester.loadgen.running.local import run_local
from loadtester.loadgen.running.workers import run_load
from tests.support.h2server import H2Server
from tests.support.loadgen_cli import run_cli
from tests.support.servers import Reply, ServerFactory


def kept_all(run: LoadResult) -> list[int]:
    """The run's raw latencies, asserting there is one per answer."""
    assert run.samples is not None and not run.samples_over
    assert len(run.samples) == run.histogram.count == run.responses
    return list(run.samples)


def scipy_p(canary: list[int], primary: list[int]) -> float:
    """scipy's one-sided Mann-Whitney p-value that the canary is greater."""
    return float(scipy_stats.mannwhitneyu(canary, primary, alternative="greater").pvalue)


async def test_in_process_compare_run_keeps_raw_samples(serve: ServerFactory) -> None:
    """Both targets keep every answer's latency; the verdict's p-value is scipy's on them."""
    canary = await serve(lambda n: Reply(delay=0.004))
    primary = await serve(lambda n: Reply())
    spec = LoadSpec(url=canary.url, compare=primary.url, requests=120, concurrency=4)
    result = await run_local(spec, progress_interval=0.05)  # several deltas merged
    assert result.primary is not None
    ours, theirs = kept_all(result), kept_all(result.primary)
    assert len(ours) == len(theirs) == 120
    policy = parse_policy("p50=10%", None, None, None)
    assert policy is not None
    verdict = judge(result, result.primary, policy)
    assert verdict.to_json()["latencyTest"] == "samples" and verdict.outcome == "fail"
    p_value = verdict.details[0].p_value
    assert p_value == pytest.approx(scipy_p(ours, theirs), abs=1e-6)


async def test_plain_run_keeps_no_samples(serve: ServerFactory) -> None:
    """A run with one target keeps no raw latencies (the plain hot path is unchanged)."""
    server = await serve(lambda n: Reply())
    result = await run_local(LoadSpec(url=server.url, requests=20, concurrency=2))
    assert result.samples is None and not result.samples_over
    assert "samples" not in result.to_wire()


async def test_worker_processes_keep_samples(serve: ServerFactory) -> None:
    """Split over worker processes, the per-interval deltas carry the samples to the merge."""
    canary, primary = await serve(lambda n: Reply()), await serve(lambda n: Reply())
    spec = LoadSpec(url=canary.url, compare=primary.url, rate=100, duration=0.6, concurrency=4)
    result = await run_load(spec, workers=2, progress_interval=0.1)
    assert result.primary is not None
    assert len(kept_all(result)) == len(kept_all(result.primary)) == 60


async def test_scenario_compare_run_keeps_samples_of_the_whole_run(serve: ServerFactory) -> None:
    """A scenario's compare run keeps every request's latency in the run's samples only."""
    canary, primary = await serve(lambda n: Reply()), await serve(lambda n: Reply())
    scenario = parse_scenario("requests:\n  - {name: a, url: /a}\n  - {name: b, url: /b}\n",
                              canary.url)
    spec = scenario_spec(scenario, LoadSpec(url=canary.url, compare=primary.url, requests=30,
                                            concurrency=2))
    result = await run_local(spec)
    assert result.primary is not None
    assert len(kept_all(result)) == len(kept_all(result.primary)) == 30
    assert all(part.samples is None for part in result.requests.values())


async def test_http2_compare_run_keeps_samples() -> None:
    """A compare run over HTTP/2 (h2c) runs an HTTP/2 engine per target, each keeping its
    streams' latencies."""
    canary, primary = await H2Server().start(), await H2Server().start()
    try:
        spec = LoadSpec(url=canary.url, compare=primary.url, h2c=True, requests=30,
                        concurrency=2, streams=4)
        result = await run_local(spec)
    finally:
        await canary.close()
        await primary.close()
    assert result.primary is not None
    assert result.responses == result.primary.responses == 30
    assert len(kept_all(result)) == len(kept_all(result.primary)) == 30


async def test_past_the_cap_the_verdict_reads_the_histograms(
    serve: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cap a target keeps no samples, and the verdict says it read the histograms."""
    monkeypatch.setattr(paired, "SAMPLE_CAP", 25)
    monkeypatch.setattr(verdict_module, "SAMPLE_CAP", 25)
    canary = await serve(lambda n: Reply(delay=0.004))
    primary = await serve(lambda n: Reply())
    spec = LoadSpec(url=canary.url, compare=primary.url, requests=60, concurrency=3)
    result = await run_local(spec, progress_interval=0.05)
    assert result.primary is not None
    assert result.samples is None and result.samples_over
    assert result.primary.samples is None and result.primary.samples_over
    policy = parse_policy("p50=10%", None, "10", None)
    assert policy is not None
    verdict = judge(result, result.primary, policy)
    assert verdict.to_json()["latencyTest"] == "histograms"
    assert verdict.message.endswith("over 60/60 requests (histograms: over 25 samples)")


def test_wire_and_merge_carry_samples_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """to_wire/from_wire keep the samples; a merge past the cap drops them and says so."""
    monkeypatch.setattr(result_module, "SAMPLE_CAP", 5)
    part = LoadResult(samples=array("q", [300, 100, 200]))
    for value in part.samples or []:
        part.histogram.record(value)
    wire = json.loads(json.dumps(part.to_wire()))
    again = LoadResult.from_wire(wire)
    assert again.samples is not None and list(again.samples) == [300, 100, 200]
    total = LoadResult()
    total.merge(again)
    assert total.samples is not None and list(total.samples) == [300, 100, 200]
    assert again.samples == array("q", [300, 100, 200])  # the delta is copied, not shared
    total.merge(LoadResult.from_wire(wire))
    assert total.samples is None and total.samples_over
    assert LoadResult.from_wire(json.loads(json.dumps(total.to_wire()))).samples_over


async def test_cli_verdict_uses_the_raw_samples(serve: ServerFactory) -> None:
    """`loadtester load --compare -o json`: the verdict says its test read the raw samples."""
    canary = await serve(lambda n: Reply(delay=0.004))
    primary = await serve(lambda n: Reply())
    code, out, err = await run_cli("-n", "80", "-c", "4", "--compare", primary.url,
                                   "--max-regression", "p50=10%", "-o", "json", canary.url)
    assert code == 1, err
    verdict = json.loads(out)["compare"]["verdict"]
    assert verdict["latencyTest"] == "samples" and verdict["outcome"] == "fail"
    assert "over 80/80 requests" in verdict["message"]
    assert "histograms" not in verdict["message"]
