"""ghz through `cmd`: its summary (or -O json) parsed like hey's, into metrics and thresholds.

The ghz outputs under tests/loadgen/data/ come from the ghz repository (github.com/bojand/ghz:
www/docs/output.md, www/docs/concurrency.md, www/website/static/pretty.json) or are its
printer template rendered by hand (ghz_refused.txt); tests/loadgen/data/README.md says which.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtester.loadgen.results.thresholds import Thresholds
from loadtester.loadgen.tools.ghz import is_transport_error, parse_ghz_output
from loadtester.tasks.load import judge, load_tool_target
from tests.support.client import ClientFactory
from tests.support.metrics import metrics_text
from tests.support.tasks import payload, post, wait_idle

DATA = Path(__file__).parents[1] / "loadgen" / "data"
REFUSED = ('rpc error: code = Unavailable desc = connection error: desc = "transport: Error '
           'while dialing: dial tcp 127.0.0.1:9999: connect: connection refused"')


def _read(name: str) -> str:
    return (DATA / name).read_text()


def test_summary_of_mixed_codes() -> None:
    """The docs' summary: count, timings, latency points, gRPC codes and the error list."""
    report = parse_ghz_output(_read("ghz_docs_mixed.txt"))
    assert report.unreadable == []
    assert report.total == 200 and report.responses == 200
    assert report.codes == {"Unavailable": 3, "PermissionDenied": 3, "OK": 186, "Internal": 8}
    assert report.errors == {}  # the server answered every call, with some error codes
    assert report.error_rate == pytest.approx(7.0)  # every non-OK code counts
    assert report.total_seconds == pytest.approx(0.18157)
    assert report.fastest == pytest.approx(0.02609) and report.slowest == pytest.approx(0.0696)
    assert report.requests_per_sec == pytest.approx(1101.53)
    assert report.latency(50) == pytest.approx(0.03323)
    assert report.latency(99) == pytest.approx(0.0696)
    assert report.latency(99.9) == pytest.approx(0.0696)  # no such point: the slowest call
    assert len(report.histogram) == 11 and report.histogram[0] == (pytest.approx(0.026093), 1)
    assert report.summary_line() == (
        "200 requests in 0.2s (1101.5/s), p50 33ms p99 70ms, 7% errors")


def test_summary_of_todays_layout() -> None:
    """Today's template (`10 % in 50.33 ms`, seconds as `50.05 s`, tabwriter padding)."""
    report = parse_ghz_output(_read("ghz_docs_ok.txt"))
    assert report.unreadable == []
    assert (report.total, report.error_rate, report.codes) == (10000, 0.0, {"OK": 10000})
    assert report.total_seconds == pytest.approx(50.05)
    assert report.latency(95) == pytest.approx(0.05099)
    assert report.achieved_rate == pytest.approx(199.79)


def test_json_report() -> None:
    """`-O json`/`pretty`: the same figures from nanoseconds and second marks."""
    report = parse_ghz_output(_read("ghz_pretty.json"))
    assert report.unreadable == []
    assert report.total == 200
    assert report.total_seconds == pytest.approx(0.172959832)
    assert report.latency(50) == pytest.approx(0.03194613)
    assert report.histogram[0] == (pytest.approx(0.02540428), 1)
    # this old sample lists its 9 failed calls only in the error distribution
    assert report.error_rate == pytest.approx(100 * 9 / 200)
    assert parse_ghz_output('{"count": 3, "statusCodeDistribution": {"OK": 3}}').total == 3


def test_refused_calls_are_transport_errors() -> None:
    """Calls that never reached the server are errors by kind, not answers."""
    report = parse_ghz_output(_read("ghz_refused.txt"))
    assert report.unreadable == []
    assert (report.total, report.responses) == (20, 0)
    assert report.errors == {"refused": 20} and report.status_counts == {}
    assert report.latency(99) is None and report.error_rate == 100.0
    assert report.failure_cause() == "connection refused"
    assert judge(report, Thresholds()) == "all 20 requests failed: connection refused"


def test_which_errors_mean_no_answer() -> None:
    """Unavailable/DeadlineExceeded from the transport are no answer; a server's code is one."""
    assert is_transport_error(REFUSED)
    assert is_transport_error("rpc error: code = DeadlineExceeded desc = context deadline "
                              "exceeded")
    assert is_transport_error('rpc error: code = Unavailable desc = connection error: desc = '
                              '"transport: Error while dialing: dial tcp: lookup podinfo.nowhere '
                              'on 10.96.0.10:53: no such host"')
    assert not is_transport_error("rpc error: code = Unavailable desc = Service unavialable.")
    assert not is_transport_error("rpc error: code = Internal desc = stream closed")
    unresolvable = parse_ghz_output(
        "Summary:\n  Count:\t4\n\nStatus code distribution:\n  [Unavailable]   4 responses\n\n"
        "Error distribution:\n  [4]   rpc error: code = Unavailable desc = connection error: "
        'desc = "transport: Error while dialing: dial tcp: lookup x.invalid: no such host"\n')
    assert judge(unresolvable, Thresholds()) == "all 4 requests failed: no such host"


def test_thresholds_judge_ghz() -> None:
    """maxErrorRate counts non-OK codes; maxP99 and minRate read ghz's figures."""
    mixed = parse_ghz_output(_read("ghz_docs_mixed.txt"))
    assert judge(mixed, Thresholds()) is None  # answers, even error codes, are no failure
    assert judge(mixed, Thresholds(max_error_rate=5)) == "error rate 7% > 5% over 200 requests"
    assert judge(mixed, Thresholds(max_error_rate=10, max_p99=0.05)) == (
        "p99 70ms > 50ms over 200 requests, 7% errors")
    ok = parse_ghz_output(_read("ghz_docs_ok.txt"))
    assert judge(ok, Thresholds(min_rate=250)) == (
        "rate 199.8/s < 250/s over 10000 requests, 0% errors")
    assert judge(ok, Thresholds(max_error_rate=0, max_p99=0.06, min_rate=150)) is None


def test_unreadable_output_is_listed() -> None:
    """Output that is not ghz's is listed as unreadable, never raised on."""
    report = parse_ghz_output("Error: call is required\n")
    assert report.sections == set() and report.total == 0
    assert report.unreadable[0] == "outside ghz summary: Error: call is required"
    assert parse_ghz_output("{not json").unreadable


def test_ghz_target() -> None:
    """The target of a ghz command line is its host, as grpc://host:port."""
    assert load_tool_target("ghz -z 1m -q 10 -c 2 --insecure podinfo.test:9898") == (
        "grpc://podinfo.test:9898")
    assert load_tool_target(
        "/usr/local/bin/ghz --insecure --proto /p/greeter.proto --call helloworld.Greeter/SayHello"
        " -d '{\"name\":\"x\"}' podinfo-canary:9898 && echo done") == "grpc://podinfo-canary:9898"
    assert load_tool_target("ghz --insecure --call=a.B/C dns:///podinfo:9898") == (
        "grpc://podinfo:9898")
    assert load_tool_target("ghz --config /etc/ghz.json") == "grpc://ghz"


@pytest.fixture
def fake_ghz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """A `ghz` on PATH that prints one recorded output; call it with the file to print."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def use(name: str) -> None:
        script = bin_dir / "ghz"
        script.write_text(f"#!/bin/sh\ncat '{DATA / name}'\n")
        script.chmod(0o755)

    return use


async def test_ghz_cmd_feeds_metrics_and_thresholds(
    fake_ghz: Callable[[str], None], make_client: ClientFactory
) -> None:
    """A cmd running ghz: its summary reaches the load metrics and maxErrorRate applies."""
    fake_ghz("ghz_docs_mixed.txt")
    client = await make_client()
    meta = {"cmd": "ghz -z 1m -q 10 -c 2 --insecure mixed.test:9898", "maxErrorRate": "5"}
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    assert await post(client, payload(meta)) == (
        500, "background task failed: error rate 7% > 5% over 200 requests")
    text = await metrics_text(client)
    labels = 'canary="podinfo",code="PermissionDenied",namespace="test"'
    assert f'loadtester_load_requests_total{{{labels},target="grpc://mixed.test:9898"}} 3.0' in text


async def test_ghz_cmd_without_thresholds(
    fake_ghz: Callable[[str], None], make_client: ClientFactory
) -> None:
    """Without thresholds, error codes pass; only calls that all got no answer fail."""
    fake_ghz("ghz_docs_mixed.txt")
    client = await make_client()
    meta = {"cmd": "ghz -z 1m -q 10 -c 2 --insecure answers.test:9898"}
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    fake_ghz("ghz_refused.txt")
    meta = {"cmd": "ghz -z 1m -q 10 -c 2 --insecure closed.test:9898"}
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    assert await post(client, payload(meta)) == (
        500, "background task failed: all 20 requests failed: connection refused")
    text = await metrics_text(client)
    assert ('loadtester_load_errors_total{canary="podinfo",kind="refused",namespace="test",'
            'target="grpc://closed.test:9898"} 20.0') in text
