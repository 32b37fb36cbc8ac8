"""`loadtester load`: hey flags in, hey's summary (or JSON) out, exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sys

from loadtester.loadgen import parse_hey_output
from loadtester.loadgen.cli import main
from tests.loadgen.conftest import ServerFactory
from tests.loadgen.servers import Reply


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


async def _run_cli(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtester.loadgen.cli", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_hey_layout_readable_by_our_parser(serve: ServerFactory) -> None:
    """The CLI prints hey's layout; parse_hey_output reads the server's counts back from it."""
    server = await serve(lambda n: Reply(status=502 if n % 5 == 0 else 200))
    code, out, err = await _run_cli("-n", "250", "-c", "5", "-workers", "2", server.url)
    assert code == 0, err
    assert err == ""  # no progress bar when stderr is not a terminal
    for title in ("Summary:", "Response time histogram:", "Latency distribution:"):
        assert title in out
    report = parse_hey_output(out)
    assert report.unreadable == []
    assert report.status_counts == dict(server.answered) == {200: 200, 502: 50}


async def test_json_output(serve: ServerFactory) -> None:
    """-o json prints one JSON document with counts, rate and latency percentiles."""
    server = await serve(lambda n: Reply())
    code, out, _ = await _run_cli("-o", "json", "-z", "1s", "-q", "20", "-c", "2", server.url)
    assert code == 0
    doc = json.loads(out)
    assert doc["status_codes"] == {"200": server.answered[200]}
    assert 30 <= doc["requests"] <= 50
    assert doc["target_rate"] == 40
    assert doc["latency"]["p99"] > 0


async def test_ctrl_c_prints_the_report(serve: ServerFactory) -> None:
    """SIGINT ends the run early and still prints the summary, as hey does."""
    server = await serve(lambda n: Reply())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtester.loadgen.cli", "-z", "60s", "-q", "20", "-c", "2",
        server.url, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    report = parse_hey_output(out.decode())
    assert 0 < report.total == server.answered[200]
