"""The Go service's flags: forms, environment variables, --help and bad values."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from loadtester import __version__, version
from loadtester.cli import main, parse_settings, usage
from loadtester.flags import FLAGS

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m loadtester <args>` as a real process (it must exit by itself)."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "loadtester", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_defaults() -> None:
    """Without flags the Go service's defaults apply."""
    settings = parse_settings([], environ={})
    assert settings.port == 9090
    assert settings.timeout == 3600
    assert settings.log_level == "debug"
    assert settings.namespace_regexp == ""
    assert settings.zap_encoding == "json"
    assert settings.zap_replace_globals is False
    assert settings.max_background_tasks == 64
    assert settings.background_failures == "report"


def test_flagger_command_line() -> None:
    """Flagger's Deployment command line `-port=8080 -log-level=info -timeout=1h` parses."""
    settings = parse_settings(["-port=8080", "-log-level=info", "-timeout=1h"], environ={})
    assert (settings.port, settings.log_level, settings.timeout) == (8080, "info", 3600)


@pytest.mark.parametrize(
    "args",
    [
        ["-port=8081", "-timeout=90s"],
        ["-port", "8081", "-timeout", "90s"],
        ["--port=8081", "--timeout=90s"],
        ["--port", "8081", "--timeout", "1m30s"],
        ["serve", "-port=8081", "-timeout=1m30s"],
    ],
)
def test_flag_forms(args: list[str]) -> None:
    """`-flag=value`, `-flag value`, `--flag=value` and `--flag value` are all accepted."""
    if args[0] == "serve":
        args = args[1:]
    settings = parse_settings(args, environ={})
    assert settings.port == 8081
    assert settings.timeout == 90


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("90s", 90),
        ("1m30s", 90),
        ("1h", 3600),
        ("1.5h", 5400),
        ("2h45m", 9900),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    """-timeout takes Go duration syntax."""
    assert parse_settings([f"-timeout={text}"], environ={}).timeout == pytest.approx(seconds)


def test_all_go_flags() -> None:
    """Every flag of the Go service is accepted."""
    settings = parse_settings(
        [
            "-port=1",
            "-timeout=1s",
            "-log-level=error",
            "-namespace-regexp=^prod$",
            "-zap-encoding=console",
            "-zap-replace-globals",
        ],
        environ={},
    )
    assert settings.namespace_regexp == "^prod$"
    assert settings.zap_encoding == "console"
    assert settings.zap_replace_globals is True


@pytest.mark.parametrize(
    ("arg", "value"),
    [
        ("-zap-replace-globals", True),
        ("-zap-replace-globals=true", True),
        ("-zap-replace-globals=false", False),
        ("--zap-replace-globals=0", False),
    ],
)
def test_bool_flag(arg: str, value: bool) -> None:
    """A boolean flag alone means true; `=false` turns it off, as in Go."""
    assert parse_settings([arg], environ={}).zap_replace_globals is value


def test_new_flags() -> None:
    """The flags this project adds parse too."""
    settings = parse_settings(
        [
            "-state=memory",
            "-max-background-tasks=3",
            "-background-failures=ignore",
            "-kill-grace=500ms",
            "-shutdown-grace=3s",
        ],
        environ={},
    )
    assert settings.in_memory
    assert settings.max_background_tasks == 3
    assert settings.background_failures == "ignore"
    assert (settings.kill_grace, settings.shutdown_grace) == (0.5, 3)


def test_environment() -> None:
    """Each flag is settable by LOADTESTER_<NAME>."""
    settings = parse_settings(
        [],
        environ={
            "LOADTESTER_PORT": "8082",
            "LOADTESTER_TIMEOUT": "2m",
            "LOADTESTER_LOG_LEVEL": "warning",
            "LOADTESTER_NAMESPACE_REGEXP": "^a",
            "LOADTESTER_ZAP_ENCODING": "console",
            "LOADTESTER_ZAP_REPLACE_GLOBALS": "true",
            "LOADTESTER_STATE": "memory",
            "LOADTESTER_MAX_BACKGROUND_TASKS": "5",
            "LOADTESTER_BACKGROUND_FAILURES": "ignore",
        },
    )
    assert (settings.port, settings.timeout, settings.log_level) == (8082, 120, "warning")
    assert (settings.namespace_regexp, settings.zap_encoding) == ("^a", "console")
    assert settings.zap_replace_globals is True
    assert settings.in_memory
    assert (settings.max_background_tasks, settings.background_failures) == (5, "ignore")


def test_every_flag_has_environment_variable() -> None:
    """The environment variable of each flag is LOADTESTER_ plus its upper-cased name."""
    for flag in FLAGS:
        assert flag.env == "LOADTESTER_" + flag.name.upper().replace("-", "_")


def test_flags_over_environment() -> None:
    """A flag wins over its environment variable."""
    settings = parse_settings(
        ["-port=8083"], environ={"LOADTESTER_PORT": "8082", "LOADTESTER_LOG_LEVEL": "error"}
    )
    assert settings.port == 8083
    assert settings.log_level == "error"


def test_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """--help explains every flag with its environment variable, and exits 0."""
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert text == usage() + "\n"
    for flag in FLAGS:
        assert f"-{flag.name}\n" in text
        assert flag.env in text
    for go_flag in (
        "port",
        "timeout",
        "log-level",
        "namespace-regexp",
        "zap-encoding",
        "zap-replace-globals",
        "state",
    ):
        assert f"  -{go_flag}\n" in text


@pytest.mark.parametrize("arg", ["-h", "-help", "--help"])
def test_help_forms(arg: str, capsys: pytest.CaptureFixture[str]) -> None:
    """-h, -help and --help all print the help."""
    assert main([arg]) == 0
    assert "-namespace-regexp" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["-timeout=abc"], "-timeout"),
        (["-timeout", "10"], "-timeout"),
        (["-port=x"], "-port"),
        (["-port=70000"], "-port"),
        (["-log-level=loud"], "-log-level"),
        (["-namespace-regexp=("], "-namespace-regexp"),
        (["-zap-encoding=xml"], "-zap-encoding"),
        (["-zap-replace-globals=maybe"], "-zap-replace-globals"),
        (["-max-background-tasks=0"], "-max-background-tasks"),
        (["-background-failures=sometimes"], "-background-failures"),
        (["-no-such-flag=1"], "-no-such-flag"),
        (["-port"], "-port"),
        (["-state=redis://:secret@host:port/0"], "-state"),
        (["-state=http://example.org/"], "-state"),
        (["-state=redis+sentinel://:secret@h1:26379,h2:26379/"], "-state"),  # no service name
        (["-state=rediss+sentinel://:secret@/mymaster"], "-state"),  # no sentinel hosts
        (["-state=redis+sentinel://h1:x/mymaster"], "-state"),
        (["-event-max-attempts=-1"], "-event-max-attempts"),
    ],
)
def test_bad_values(
    args: list[str], flag: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad flag exits 2 with one line on stderr naming the flag."""
    for name in list(os.environ):
        if name.startswith("LOADTESTER_"):
            monkeypatch.delenv(name)
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert flag in lines[0] and "secret" not in lines[0]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://:secret@h1:26379,h2:26379", "no service name"),
        ("redis+sentinel://h1:26379,h2:26379/", "no service name"),
        ("rediss+sentinel://:secret@/mymaster", "no sentinel hosts"),
        ("redis+sentinel://,/mymaster/0", "no sentinel hosts"),
    ],
)
def test_bad_sentinel_url_names_the_problem(
    url: str, problem: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Sentinel URL without a service name or hosts exits 2 with one line saying which."""
    for name in list(os.environ):
        if name.startswith("LOADTESTER_"):
            monkeypatch.delenv(name)
    assert main([f"-state={url}"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and problem in lines[0] and "secret" not in lines[0]


def test_sentinel_url_is_a_redis_store() -> None:
    """A good Sentinel URL selects the Redis store, its password masked in logs."""
    settings = parse_settings(["-state=rediss+sentinel://:pw@h1,h2:26380/mymaster/2"], {})
    assert settings.state_backend == "redis"
    assert settings.state_for_logs == "rediss+sentinel://:***@h1,h2:26380/mymaster/2"


def test_state_url_from_a_mounted_secret(tmp_path: Path) -> None:
    """LOADTESTER_STATE_FILE names a file holding the Redis URL; it wins over LOADTESTER_STATE."""
    secret = tmp_path / "url"
    secret.write_text("redis://:pw@redis.flagger:6379/0\n")
    settings = parse_settings([], environ={"LOADTESTER_STATE": "/var/lib/loadtester",
                                           "LOADTESTER_STATE_FILE": str(secret)})
    assert settings.state == "redis://:pw@redis.flagger:6379/0"
    assert settings.state_backend == "redis"
    assert settings.state_for_logs == "redis://:***@redis.flagger:6379/0"
    assert parse_settings(["-state=rediss://h:6380/1"], environ={}).state_backend == "redis"
    assert parse_settings(["-state=memory"], environ={}).state_backend == "memory"
    assert parse_settings(["-state=/tmp/x"], environ={}).state_backend == "sqlite"


def test_bad_environment_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad environment value exits 2 naming the variable."""
    monkeypatch.setenv("LOADTESTER_PORT", "eighty")
    assert main([]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "LOADTESTER_PORT" in lines[0]


def test_positional_argument_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A stray positional argument is a usage error, not silently ignored."""
    assert main(["-port=1", "extra"]) == 2
    assert "extra" in capsys.readouterr().err


@pytest.mark.system
@pytest.mark.parametrize(
    "arg", ["-timeout=abc", "-port=x", "-log-level=loud", "-namespace-regexp=("]
)
def test_bad_values_real_process(arg: str) -> None:
    """The installed entry point exits 2 with one stderr line naming the flag."""
    done = run_cli(arg)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert arg.split("=")[0] in lines[0]


@pytest.mark.system
def test_help_real_process() -> None:
    """`python -m loadtester --help` prints every flag and exits 0."""
    done = run_cli("--help")
    assert done.returncode == 0
    for flag in FLAGS:
        assert f"-{flag.name}" in done.stdout


@pytest.mark.system
@pytest.mark.parametrize("arg", ["--version", "-version"])
def test_version(arg: str) -> None:
    """--version and -version print the package's version and exit 0."""
    done = run_cli(arg)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"loadtester {version()}\n"
    assert version() == __version__  # pyproject's version is the package's


@pytest.mark.system
def test_help_into_a_closed_pipe() -> None:
    """`loadtester --help | head -2`: a reader that left ends the command without a traceback."""
    for args in (["--help"], ["load", "-h"]):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "loadtester", *args], stdout=write_end,
                stderr=subprocess.PIPE, text=True, timeout=60, check=False,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
        finally:
            os.close(write_end)
        assert done.stderr == "", done.stderr
        assert done.returncode == 141


@pytest.mark.system
def test_start_up_line_names_version_and_address() -> None:
    """The service's first log line names its version and the address it listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtester", f"-port={port}", "-host=127.0.0.1",
         "-state=memory", "-log-level=info"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = json.loads(proc.stderr.readline())
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert line["event"] == "starting"
    assert line["version"] == version()
    assert line["address"] == f"127.0.0.1:{port}"
