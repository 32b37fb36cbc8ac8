"""`loadtester load`: hey flags in, hey's summary (or JSON) out, exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import sys

import pytest

from loadtester.loadgen.cli import main
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.local import fits_locally
from loadtester.loadgen.tools.hey import parse_hey_output
from tests.support.loadgen_cli import run_cli
from tests.support.servers import CountingServer, Reply, ServerFactory


def test_bad_flags_exit_2_with_one_line() -> None:
    """An unsupported or invalid flag exits 2 with one line on stderr and nothing on stdout."""
    for argv in (["-h2", "http://x/"], ["-n", "x", "http://x/"], ["-o", "csv", "http://x/"],
                 ["-workers", "0", "http://x/"], ["ftp://x/"], []):  # fmt: skip
        out, err = io.StringIO(), io.StringIO()
        assert main(argv, out, err) == 2, argv
        assert out.getvalue() == ""
        assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("loadtester load:")


def test_help() -> None:
    """-h prints the usage and exits 0."""
    out = io.StringIO()
    assert main(["-h"], out, io.StringIO()) == 0
    assert "Usage: loadtester load" in out.getvalue()



@pytest.mark.system
async def test_hey_layout_readable_by_our_parser(serve: ServerFactory) -> None:
    """The CLI prints hey's layout; parse_hey_output reads the server's counts back from it."""
    server = await serve(lambda n: Reply(status=502 if n % 5 == 0 else 200))
    code, out, err = await run_cli("-n", "250", "-c", "5", "-workers", "2", server.url)
    assert code == 0, err
    assert err == ""  # no progress bar when stderr is not a terminal
    for title in ("Summary:", "Response time histogram:", "Latency distribution:"):
        assert title in out
    report = parse_hey_output(out)
    assert report.unreadable == []
    assert report.status_counts == dict(server.answered) == {200: 200, 502: 50}


@pytest.mark.system
async def test_json_output(serve: ServerFactory) -> None:
    """-o json prints one JSON document with counts, rate and latency percentiles."""
    server = await serve(lambda n: Reply())
    code, out, _ = await run_cli("-o", "json", "-z", "1s", "-q", "20", "-c", "2", server.url)
    assert code == 0
    doc = json.loads(out)
    assert doc["status_codes"] == {"200": server.answered[200]}
    assert 30 <= doc["requests"] <= 50
    assert doc["target_rate"] == 40
    assert doc["latency"]["p99"] > 0


async def _wait_for_request(server: CountingServer, proc: asyncio.subprocess.Process,
                            count: int = 1) -> None:
    """Until the server answered ``count`` requests, or the CLI ended."""
    async with asyncio.timeout(30):
        while sum(server.answered.values()) < count and proc.returncode is None:
            await asyncio.sleep(0.01)


@pytest.mark.system
@pytest.mark.parametrize("workers", [[], ["-workers", "2"]], ids=["in-process", "workers"])
async def test_ctrl_c_prints_the_report(serve: ServerFactory, workers: list[str]) -> None:
    """SIGINT ends the run early and still prints the summary of what was sent, as hey does,
    whether the run is in the CLI's own process or in worker processes."""
    server = await serve(lambda n: Reply())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtester.loadgen.cli", "-z", "60s", "-q", "20", "-c", "2",
        *workers, server.url, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    # with workers: 2 s of the run, most likely sent by the workers after the hand-over
    await _wait_for_request(server, proc, 80 if workers else 1)
    proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    report = parse_hey_output(out.decode())
    assert report.unreadable == []
    assert 0 < report.total == server.answered[200]


@pytest.mark.system
async def test_ctrl_c_while_workers_start_prints_what_was_sent(serve: ServerFactory) -> None:
    """A big run sends from the CLI's process while its workers start; SIGINT at its first
    request prints the report of what was sent."""
    server = await serve(lambda n: Reply())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtester.loadgen.cli", "-z", "60s", "-c", "2", "-workers", "2",
        server.url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await _wait_for_request(server, proc)
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    report = parse_hey_output(out.decode())
    assert "summary" in report.sections
    assert 0 < report.total == sum(server.answered.values())


@pytest.mark.system
async def test_small_run_needs_no_worker_process(serve: ServerFactory) -> None:
    """A small run sends from the CLI's own process: its one child is never started."""
    server = await serve(lambda n: Reply())
    no_workers = ("import sys, loadtester.loadgen.running.workers as w; del w.run_load; "
                  "from loadtester.loadgen.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", no_workers, "-n", "5", "-c", "2", server.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await proc.communicate()
    code, out, err = proc.returncode, stdout.decode(), stderr.decode()
    assert code == 0, err
    assert parse_hey_output(out).status_counts == {200: 5} == dict(server.answered)
    assert fits_locally(LoadSpec(url=server.url, requests=5, concurrency=2), None)
    assert not fits_locally(LoadSpec(url=server.url, duration=10, concurrency=2), None)
    assert not fits_locally(LoadSpec(url=server.url, requests=5, concurrency=2), 2)


@pytest.mark.system
async def test_full_hey_layout(serve: ServerFactory) -> None:
    """The summary has hey's sections in hey's order: Total data, Size/request, Details."""
    server = await serve(lambda n: Reply(body=b"x" * 100))
    code, out, err = await run_cli("-n", "10", "-c", "2", server.url)
    assert code == 0, err
    lines = out.splitlines()
    titles = ["Summary:", "Response time histogram:", "Latency distribution:",
              "Details (average, fastest, slowest):", "Status code distribution:"]  # fmt: skip
    assert [line for line in lines if line in titles] == titles
    assert "  Total data:\t1000 bytes" in lines
    assert "  Size/request:\t100 bytes" in lines
    details = lines[lines.index(titles[3]) + 1 : lines.index(titles[3]) + 6]
    labels = [line.split(":\t")[0].strip() for line in details]
    assert labels == ["DNS+dialup", "DNS-lookup", "req write", "resp wait", "resp read"]
    for line in details:
        assert re.fullmatch(r"  [\w+ -]+:\t\d+\.\d{4} secs, \d+\.\d{4} secs, \d+\.\d{4} secs",
                            line), line  # fmt: skip
    assert out.endswith("  [200]\t10 responses\n\n\n\n")
    report = parse_hey_output(out)
    assert report.unreadable == []
    assert (report.total_data, report.size_per_request) == (1000, 100)
