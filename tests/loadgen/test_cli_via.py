"""`loadtester load --via URL`: the run posted to a real service as a `type: load` webhook."""

from __future__ import annotations

import io
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loadtester.load_via import replicas_text, webhook_metadata
from loadtester.loadgen.cli import _CLI_FLAGS, main
from loadtester.loadgen.input.heyflags import spec_from_hey, split_hey_flags
from loadtester.loadgen.input.spec import LoadSpec
from tests.support.nginx import Nginx
from tests.support.service import StartService, request
from tests.support.tokens import TEAM_A, TOKENS


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def _metadata(argv: list[str], scenario: str | None = None) -> dict[str, str]:
    args = split_hey_flags(argv, extra_value_flags=_CLI_FLAGS, require_url=False,
                           extra_bool_flags=frozenset({"allow-partial"}))
    spec = spec_from_hey(args) if scenario is None else LoadSpec(url=args.url, rate=40.0)
    return webhook_metadata(args, spec, _CLI_FLAGS, scenario)


@pytest.mark.parametrize("argv", [
    ["--replicas", "3", "-n", "10", "http://x/"],
    ["--allow-partial", "-n", "10", "http://x/"],
    ["--token-file", "t", "-n", "10", "http://x/"],
    ["--via", "ftp://svc/", "-n", "10", "http://x/"],
    ["--via", "http://svc/", "-workers", "2", "-n", "10", "http://x/"],
    ["--via", "http://svc/", "-cacert", "ca.pem", "https://x/"],
    ["--via", "http://svc/", "--canary", "nodot", "http://x/"],
])
def test_bad_combinations_exit_2_with_one_line(argv: list[str]) -> None:
    """--replicas (and the other --via options) without --via, or --via with a flag the
    service cannot honour (-workers, a local TLS file), exits 2 with one line, nothing sent."""
    code, out, err = _run(argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("loadtester load: "), err


def test_hey_flags_travel_as_cmd_and_cli_options_as_camel_case_metadata(tmp_path: Path) -> None:
    """hey's flags become the webhook's cmd (-D's file as -d text), --max-regression,
    --replicas and --allow-partial become maxRegression, replicas and allowPartial."""
    body = tmp_path / "body.json"
    body.write_text('{"a": 1}')
    metadata = _metadata(["--via", "http://svc/", "--replicas", "3", "--allow-partial",
                          "-o", "json", "-z", "10s", "-q", "100", "-c", "10", "-D", str(body),
                          "-H", "X-A: 1", "-disable-keepalive", "--compare", "http://p/",
                          "--max-regression", "p99=20%", "http://x/"])
    cmd = shlex.split(metadata.pop("cmd"))
    assert metadata == {"type": "load", "wait": "true", "replicas": "3", "allowPartial": "true",
                        "compare": "http://p/", "maxRegression": "p99=20%"}
    assert cmd == ["hey", "-z", "10s", "-q", "100", "-c", "10", "-d", '{"a": 1}', "-H", "X-A: 1",
                   "-disable-keepalive", "http://x/"]


def test_a_scenario_travels_with_its_run_wide_flags() -> None:
    """-f's text is the scenario; -z and -c keep their text, -q becomes the run's rate."""
    metadata = _metadata(["--via", "http://svc/", "-f", "s.yaml", "-z", "1m", "-c", "4", "-q",
                          "10", "-h2c", "http://base/"], scenario="requests: []")
    assert metadata == {"type": "load", "wait": "true", "scenario": "requests: []",
                        "url": "http://base/", "duration": "1m", "concurrency": "4",
                        "rate": "40", "h2c": "true"}


def test_replicas_text_lists_each_share() -> None:
    """A distributed run's record prints one line per share, a lost one with its reason."""
    text = replicas_text({"replicas": [
        {"replica": "a/1", "share": 0, "shares": 2, "requests": 10, "state": "done"},
        {"replica": "b/2", "share": 1, "shares": 2, "requests": 4, "state": "lost",
         "reason": "share 2/2 lost"}]})
    assert "share 1/2  a/1  10 requests  done" in text
    assert "share 2/2  b/2  4 requests  lost: share 2/2 lost" in text
    assert replicas_text({}) == ""


@pytest.mark.system
def test_via_runs_on_the_service_and_prints_its_answer(start_service: StartService,
                                                        nginx: Nginx) -> None:
    """The run goes through a real service (memory store) to nginx: the summary line, exit 0,
    and nginx counts every request the answer reports; -o json prints the run's record."""
    service = start_service("-state=memory")
    service.wait_healthy()
    via = f"http://127.0.0.1:{service.port}/"
    code, out, err = _run(["--via", via, "-n", "40", "-c", "4", nginx.url])
    assert code == 0, err
    assert out.startswith("40 requests in ") and out.count("\n") == 1
    assert nginx.counts(40)["GET /"] == 40
    code, out, err = _run(["--via", via, "-o", "json", "-n", "30", "-c", "3", nginx.url])
    assert code == 0, err
    document = json.loads(out)
    assert document["requests"] == 30 and document["status_codes"] == {"200": 30}
    assert nginx.counts(70)["GET /"] == 70


@pytest.mark.system
def test_via_failures_exit_non_zero_with_the_services_reason(start_service: StartService,
                                                             tmp_path: Path) -> None:
    """A failed run exits 1 with the service's reason (-o json: and prints its record); a run
    the service refuses (longer than its -timeout) exits 2; an unreachable service exits 1."""
    service = start_service("-state=memory", "-timeout=5s")
    service.wait_healthy()
    via = f"http://127.0.0.1:{service.port}/"
    code, out, err = _run(["--via", via, "-n", "5", "-c", "1", "http://127.0.0.1:1/"])
    assert (code, out) == (1, "")
    assert err == "loadtester load: all 5 requests failed: connection refused\n"
    code, out, err = _run(["--via", via, "-o", "json", "-n", "5", "-c", "1",
                           "http://127.0.0.1:1/"])
    assert code == 1 and err.startswith("loadtester load: all 5 requests failed"), err
    assert json.loads(out)["requests"] == 5
    code, out, err = _run(["--via", via, "-z", "1m", "http://127.0.0.1:1/"])
    assert (code, out) == (2, "")
    assert err.startswith("loadtester load: -z 1m") and err.count("\n") == 1, err
    service.stop()
    code, _, err = _run(["--via", via, "-n", "1", "-c", "1", "http://127.0.0.1:1/"])
    assert code == 1 and err.startswith(f"loadtester load: cannot reach {via}"), err


@pytest.mark.system
def test_via_sends_the_token(start_service: StartService, nginx: Nginx, tmp_path: Path) -> None:
    """With -token-file on the service, --token-file's token lets the run (and -o json's read
    of its record) through; without it the service's 401 reason is the one line."""
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKENS)
    mine = tmp_path / "mine"
    mine.write_text(f"{TEAM_A}\n")
    service = start_service("-state=memory", f"-token-file={tokens}")
    service.wait_healthy()
    via = f"http://127.0.0.1:{service.port}"
    code, out, err = _run(["--via", via, "--token-file", str(mine), "--canary", "app.team-a",
                           "-o", "json", "-n", "10", "-c", "1", nginx.url])
    assert code == 0, err
    assert json.loads(out)["requests"] == 10
    code, out, err = _run(["--via", via, "--canary", "app.team-a", "-n", "10", "-c", "1",
                           nginx.url])
    assert (code, out) == (1, "")
    assert err.startswith("loadtester load: ") and err.count("\n") == 1, err


@pytest.mark.system
def test_via_replicas_spreads_the_run_and_lists_each_share(
    start_service: StartService, redis_url: str, nginx: Nginx
) -> None:
    """--replicas 2 through one of two replicas on one Redis: the answer names 2 replicas, a
    line per share follows, and nginx counts every request the shares report."""
    replicas = [start_service(f"-state={redis_url}") for _ in range(2)]
    for replica in replicas:
        replica.wait_healthy()
    argv = ["--via", f"http://127.0.0.1:{replicas[0].port}/", "--replicas", "2", "-n", "200",
            "-c", "4", nginx.url]
    deadline = time.monotonic() + 30  # a guard against hanging: until both are seen live
    while True:
        code, out, err = _run(argv)
        if code == 0 or "live" not in err or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("200 requests in ") and lines[0].endswith("; 2 replicas")
    shares = [line.split() for line in lines if line.startswith("  share ")]
    assert sorted(words[1] for words in shares) == ["1/2", "2/2"]
    assert all(words[-1] == "done" for words in shares)
    assert sum(int(words[3]) for words in shares) == 200
    assert nginx.counts(200)["GET /"] == 200


@pytest.mark.system
def test_via_replicas_on_a_memory_store_exits_2_with_the_reason(
    start_service: StartService,
) -> None:
    """The service's 400 for replicas on a store other than Redis is the one line, exit 2."""
    service = start_service("-state=memory")
    service.wait_healthy()
    code, out, err = _run(["--via", f"http://127.0.0.1:{service.port}/", "--replicas", "2",
                           "-n", "10", "-c", "1", "http://127.0.0.1:1/"])
    assert (code, out) == (2, "")
    assert err.startswith("loadtester load: replicas needs -state=redis") and \
        err.count("\n") == 1, err


def _running(port: int) -> list[dict[str, Any]]:
    status, text = request(port, "/api/v1/tasks?running=true", method="GET")
    assert status == 200, text
    tasks: list[dict[str, Any]] = json.loads(text)["tasks"]
    return tasks


@pytest.mark.system
def test_ctrl_c_ends_the_wait_and_the_services_run(start_service: StartService,
                                                   nginx: Nginx) -> None:
    """Ctrl-C while the service runs the load exits 130 with one line, and the service,
    its caller gone, ends the run."""
    service = start_service("-state=memory")
    service.wait_healthy()
    command = subprocess.Popen(
        [sys.executable, "-m", "loadtester", "load", "--via", f"http://127.0.0.1:{service.port}",
         "-z", "60s", "-q", "5", "-c", "1", nginx.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30  # guards against hanging, not measurements
    while not _running(service.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(service.port), "the run never started"
    command.send_signal(signal.SIGINT)
    out, err = command.communicate(timeout=30)
    assert (command.returncode, out) == (130, "")
    assert err == "loadtester load: interrupted: the service stops the run\n"
    while _running(service.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(service.port) == []
