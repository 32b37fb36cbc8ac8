"""hey's summary parsed from recorded Debian hey output, from live hey and from our own CLI."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from loadtester.loadgen.results.report import format_hey_summary
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.results.thresholds import Thresholds
from loadtester.loadgen.tools.hey import parse_hey_output
from tests.support.servers import Reply, ServerFactory

DATA = Path(__file__).parent / "data"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def test_recorded_200() -> None:
    """A clean run: summary figures, hey's seven latency points, status codes."""
    report = parse_hey_output(_read("hey_200.txt"))
    assert report.unreadable == []
    assert report.status_counts == {200: 500}
    assert report.total == 500 and report.error_rate == 0
    assert report.requests_per_sec == pytest.approx(10811.2, abs=0.1)
    assert sorted(report.latencies) == [10, 25, 50, 75, 90, 95, 99]
    assert report.latency(99) == pytest.approx(0.0051)
    assert report.latency(99.9) == report.slowest  # no hey figure: the slowest bounds it
    assert len(report.histogram) == 11


def test_small_run_p99_bounded_by_slowest() -> None:
    """hey prints `0% in 0.0000 secs` for p99 of a 20-request run: the slowest stands in."""
    report = parse_hey_output(_read("hey_small.txt"))
    assert report.status_counts == {200: 20}
    assert report.latency(99) == report.slowest and report.slowest > 0
    assert 0 < report.latency(50) <= report.slowest


def test_recorded_errors() -> None:
    """5xx answers, refused connections, timeouts and EOFs map to codes and error kinds."""
    assert parse_hey_output(_read("hey_503.txt")).status_counts == {503: 300}
    mixed = parse_hey_output(_read("hey_mixed.txt"))
    assert mixed.status_counts == {200: 119, 404: 51, 500: 30}
    assert mixed.error_rate == pytest.approx(15.0)  # the 30 x 500; the 51 x 404 are answers
    refused = parse_hey_output(_read("hey_refused.txt"))
    assert refused.errors == {"refused": 100} and refused.average is None
    assert refused.unreadable == []
    assert parse_hey_output(_read("hey_timeout.txt")).errors == {"timeout": 20}
    assert parse_hey_output(_read("hey_closed.txt")).errors == {"reset": 50}


def test_thresholds_apply_to_hey() -> None:
    """The same Thresholds judge a hey report."""
    slow = parse_hey_output(_read("hey_slow.txt"))
    assert Thresholds(max_p99=0.05).evaluate(slow) == (
        "p99 59ms > 50ms over 762 requests, 0% errors"
    )
    assert Thresholds(max_p99=0.1, min_rate=300).evaluate(slow) is None
    mixed = parse_hey_output(_read("hey_mixed.txt"))
    assert Thresholds(max_error_rate=5).evaluate(mixed) == (
        "error rate 15% > 5% over 200 requests"
    )


@pytest.mark.parametrize(
    "text",
    ["", "garbage\n\x00\x01", "Summary:\n  Total: lots secs\n", "Latency distribution:\n  x% in"],
)
def test_never_raises(text: str) -> None:
    """Unexpected text gives an empty report listing what could not be read."""
    report = parse_hey_output(text)
    assert report.total == 0
    assert report.unreadable


def test_noise_around_summary_is_reported() -> None:
    """Lines around the summary are listed as unreadable, the summary is still read."""
    report = parse_hey_output("starting...\n" + _read("hey_mixed.txt") + "\nweird line\n")
    assert report.total == 200
    assert any("starting" in line for line in report.unreadable)


def test_reads_our_own_summary() -> None:
    """format_hey_summary output parses back to the same counts and latency points."""
    base = parse_hey_output(_read("hey_mixed.txt"))
    result = LoadResult(status_counts=dict(base.status_counts), errors={"refused": 3, "reset": 2})
    for ms in range(1, 201):
        result.histogram.record(ms * 1000)
    result.elapsed = 2.0
    result.unsent, result.retried = 4, 2
    report = parse_hey_output(format_hey_summary(result))
    assert report.unreadable == []
    assert (report.unsent, report.retried) == (4, 2)
    assert report.status_counts == result.status_counts
    assert report.errors == result.errors
    assert report.latency(50) == pytest.approx(0.1, abs=0.001)
    assert report.latency(99.9) == pytest.approx(0.2, abs=0.001)
    assert report.requests_per_sec == pytest.approx(result.achieved_rate, abs=0.01)


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed")
async def test_live_hey(serve: ServerFactory) -> None:
    """A live hey run parses to what the server answered."""
    server = await serve(lambda n: Reply(status=500 if n % 10 == 0 else 200))
    proc = await asyncio.create_subprocess_exec(
        "hey", "-n", "300", "-c", "5", server.url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    report = parse_hey_output(out.decode())
    assert report.unreadable == []
    assert report.status_counts == dict(server.answered)
    assert report.total == 300 and report.error_rate == pytest.approx(10.0)
