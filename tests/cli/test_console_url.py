"""-console-url: an absolute http(s) URL without query or fragment, else exit 2 at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from loadtester.cli import main, parse_settings


@pytest.mark.parametrize(("given", "kept"), [
    ("https://loadtester.example.com", "https://loadtester.example.com"),
    ("https://loadtester.example.com/", "https://loadtester.example.com"),
    ("http://10.0.0.7:8080/tools/loadtester/", "http://10.0.0.7:8080/tools/loadtester"),
])
def test_good_console_urls(given: str, kept: str) -> None:
    """An http(s) URL is kept without its trailing slash, so page paths can follow it."""
    assert parse_settings([f"-console-url={given}"], environ={}).console_url == kept


def test_default_and_environment() -> None:
    """Unset by default (no links); LOADTESTER_CONSOLE_URL sets it too."""
    assert parse_settings([], environ={}).console_url == ""
    environ = {"LOADTESTER_CONSOLE_URL": "https://lt.example.com"}
    assert parse_settings([], environ=environ).console_url == "https://lt.example.com"


@pytest.mark.parametrize("bad", [
    "loadtester.example.com", "/ui/", "ftp://example.com", "https://", "javascript:alert(1)",
    "https://example.com/?x=1", "https://example.com/#top", "https://example.com:port/",
    "https://user:secret@example.com", "https://exa mple.com",
])
def test_bad_console_urls_exit_2(bad: str, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything but an absolute http(s) URL without query or fragment exits 2 with one line
    naming the flag."""
    for name in list(os.environ):
        if name.startswith("LOADTESTER_"):
            monkeypatch.delenv(name)
    assert main([f"-console-url={bad}"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 1
    assert "-console-url" in lines[0] and "secret" not in lines[0]


@pytest.mark.system
def test_bad_console_url_real_process() -> None:
    """`python -m loadtester -console-url=…?x` exits 2 with one stderr line."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOADTESTER_")}
    done = subprocess.run([sys.executable, "-m", "loadtester", "-console-url=https://a.b/?x=1"],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "-console-url" in done.stderr
