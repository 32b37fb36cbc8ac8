"""Compare runs in the generator: two engines on one schedule (in this process and in worker
processes), the per-target result, and `loadtester load --compare`."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from loadtester.loadgen.cli import main
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.scenario import with_stages
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.input.stages import parse_stages
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.local import run_local
from loadtester.loadgen.running.workers import run_load
from tests.support.loadgen_cli import run_cli
from tests.support.servers import Reply, ServerFactory


async def test_same_requests_reach_both_targets(serve: ServerFactory) -> None:
    """Each request goes to both targets (method, path, body), each with its own connections."""
    seen: dict[str, list[int]] = {"canary": [], "primary": []}
    canary = await serve(lambda n: (seen["canary"].append(n), Reply())[1])
    primary = await serve(lambda n: (seen["primary"].append(n), Reply(status=404))[1])
    spec = LoadSpec(url=canary.url + "orders?x=1", compare=primary.url, method="POST",
                    body=b"{}", requests=40, concurrency=4)
    assert spec.compare_spec().url == primary.url + "orders?x=1"
    result = await run_local(spec)
    assert canary.requests == primary.requests == 40
    assert canary.connections == primary.connections == 4
    assert result.status_counts == {200: 40}
    assert result.primary is not None and result.primary.status_counts == {404: 40}


async def test_open_loop_with_stages_sends_the_same_count(serve: ServerFactory) -> None:
    """A staged open-loop run sends each target the same requests, rate per target."""
    canary, primary = await serve(lambda n: Reply()), await serve(lambda n: Reply())
    spec = with_stages(LoadSpec(url=canary.url, compare=primary.url, concurrency=5),
                       parse_stages("500ms:20->60"))
    result = await run_local(spec)
    assert result.primary is not None
    assert canary.requests == primary.requests == result.total == result.primary.total > 0


async def test_worker_processes_report_both_targets(serve: ServerFactory) -> None:
    """Split over worker processes, each worker runs both engines and reports both."""
    canary, primary = await serve(lambda n: Reply()), await serve(lambda n: Reply(status=503))
    spec = LoadSpec(url=canary.url, compare=primary.url, rate=100, duration=0.5, concurrency=4)
    result = await run_load(spec, workers=2)
    assert result.primary is not None
    assert canary.requests == primary.requests == 50
    assert result.primary.status_counts == {503: 50}
    document = result.to_json()["compare"]
    assert document["canary"]["requests"] == document["primary"]["requests"] == 50
    assert document["differences"]["error_rate"] == -100.0


def test_result_wire_keeps_the_primary() -> None:
    """A worker's delta keeps the primary's counts through the pipe and merges per target."""
    delta = LoadResult(status_counts={200: 3}, primary=LoadResult(status_counts={500: 2}))
    total = LoadResult()
    total.merge(LoadResult.from_wire(delta.to_wire()))
    total.merge(LoadResult.from_wire(delta.to_wire()))
    assert total.status_counts == {200: 6}
    assert total.primary is not None and total.primary.status_counts == {500: 4}
    assert "compare" not in LoadResult(status_counts={200: 1}).to_json()


@pytest.mark.parametrize(
    ("compare", "reason"),
    [("http://x/", "is the canary's url"), ("ftp://y/", "is not an http:// or https:// URL"),
     ("http://y/\r\nX: 1", "contains CR or LF")],
)
def test_bad_compare_url(compare: str, reason: str) -> None:
    """A compare URL must be another http(s) URL."""
    with pytest.raises(LoadSpecError, match=reason):
        dataclasses.replace(LoadSpec(url="http://x/"), compare=compare)


async def test_unreachable_compare_host_fails_the_run(serve: ServerFactory) -> None:
    """A compare host that cannot be resolved fails the run before it starts."""
    canary = await serve(lambda n: Reply())
    spec = LoadSpec(url=canary.url, compare="http://no-such-host.invalid/", requests=5)
    with pytest.raises(LoadSpecError, match=r"^compare target unreachable: cannot resolve "):
        await run_local(spec)


async def test_cli_compare_json(serve: ServerFactory) -> None:
    """`loadtester load --compare URL -o json` prints both targets, differences and verdict."""
    canary, primary = await serve(lambda n: Reply()), await serve(lambda n: Reply())
    code, out, err = await run_cli("-n", "60", "-c", "3", "--compare", primary.url,
                                   "--max-regression", "p99=1000%", "-o", "json", canary.url)
    assert code == 0, err
    compare = json.loads(out)["compare"]
    assert compare["canary"]["requests"] == compare["primary"]["requests"] == 60
    assert set(compare["differences"]) == {"requests", "rate", "error_rate", "latency",
                                           "latency_percent"}
    assert compare["verdict"]["outcome"] == "pass"
    assert canary.requests == primary.requests == 60


async def test_cli_compare_text_and_failed_verdict(serve: ServerFactory) -> None:
    """The text summary gets a comparison section; a failed verdict exits 1 naming it."""
    canary = await serve(lambda n: Reply(status=500 if n % 2 else 200))
    primary = await serve(lambda n: Reply())
    code, out, err = await run_cli("-n", "100", "-c", "2", "-q", "50", "--compare", primary.url,
                                   "--max-regression", "errorRate=1", canary.url)
    assert code == 1
    assert "\nCompare (canary vs primary " in out and "  Error rate    50.00%" in out
    assert "  Verdict: fail: canary error rate 50.0% vs primary 0.0%" in out
    assert err.startswith("loadtester load: canary error rate 50.0%")


def test_cli_bad_compare_flags() -> None:
    """Bad compare flags exit 2 with one line naming the flag."""
    for argv, reason in (
        (["--compare", "http://x/", "http://x/"], "is the canary's url"),
        (["--max-regression", "p99=5", "http://x/"], "needs --compare"),
        (["--compare", "http://y/", "--max-regression", "p99", "http://x/"], "maxRegression"),
        (["--compare", "http://y/", "--max-regression", "p99=5", "--significance", "2",
          "http://x/"], "significance"),
    ):
        out, err = io.StringIO(), io.StringIO()
        assert main(argv, out, err) == 2, argv
        assert reason in err.getvalue() and err.getvalue().count("\n") == 1


async def test_cli_scenario_compare(serve: ServerFactory, tmp_path: Path) -> None:
    """`-f scenario.yaml --compare URL`: each request's path goes to both bases."""
    canary, primary = await serve(lambda n: Reply()), await serve(lambda n: Reply())
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("requests:\n  - {url: /a, weight: 3}\n  - {url: /b}\n")
    code, out, err = await run_cli("-f", str(scenario), "-n", "40", "-c", "2", "--compare",
                                   primary.url, "-o", "json", canary.url)
    assert code == 0, err
    compare = json.loads(out)["compare"]
    assert compare["canary"]["requests"] == compare["primary"]["requests"] == 40
    assert canary.requests == primary.requests == 40
