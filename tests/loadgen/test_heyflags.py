"""hey's flags parsed with hey's meaning; unsupported and bad flags are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.heyflags import parse_hey_args, parse_hey_command


def test_q_is_per_worker() -> None:
    """hey's -q is per worker, so the total rate is q * c."""
    spec = parse_hey_command(
        """hey -z 1m -q 10 -c 2 -m POST -H "X-A: b" -d '{}' http://podinfo.test:9898/"""
    )
    assert spec.url == "http://podinfo.test:9898/"
    assert (spec.duration, spec.rate, spec.concurrency) == (60.0, 20.0, 2)
    assert spec.method == "POST"
    assert spec.headers == (("X-A", "b"),)
    assert spec.body == b"{}"
    assert spec.content_type == "text/html"  # hey's default -T


def test_defaults_and_equals_syntax() -> None:
    """Without -n/-z hey sends 200 requests on 50 workers; -flag=value works too."""
    spec = parse_hey_args(["http://x/"])
    assert (spec.total_requests, spec.concurrency, spec.timeout, spec.rate) == (200, 50, 20.0, 0)
    spec = parse_hey_args(["-z=10s", "--c=5", "-n=7", "-t=3", "http://x/"])
    assert (spec.duration, spec.concurrency, spec.timeout, spec.total_requests) == (10, 5, 3, None)


def test_all_supported_flags(tmp_path: Path) -> None:
    """-H repeats, -D reads a file, -a/-A/-T/-host and the boolean flags are honoured."""
    body = tmp_path / "body.json"
    body.write_bytes(b'{"from": "file"}')
    spec = parse_hey_command(
        f"/usr/bin/hey -n 10 -c 2 -m put -H 'A: 1' -H 'B: 2' -D {body} -a me:secret "
        "-A application/json -T application/json -host h.test -cpus 2 -disable-compression "
        "-disable-keepalive -disable-redirects=true http://x/"
    )
    assert spec.headers == (("A", "1"), ("B", "2"))
    assert spec.body == b'{"from": "file"}'
    assert spec.basic_auth == ("me", "secret")
    assert (spec.accept, spec.content_type, spec.host, spec.method) == (
        "application/json",
        "application/json",
        "h.test",
        "PUT",
    )
    assert spec.disable_compression and spec.disable_keepalive and spec.disable_redirects


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        ("hey -h2 http://x/", "h2 is HTTP/2 over TLS and needs https:// URLs"),
        ("hey -h2c https://x/", "h2c is HTTP/2 over cleartext"),
        ("hey -h2 -streams 0 https://x/", "streams must be between 1 and 1000, got 0"),
        ("hey -streams 4 http://x/", "streams 4 needs HTTP/2"),
        ("hey -x proxy:3128 http://x/", "unsupported hey flag -x"),
        ("hey -o csv http://x/", "unsupported hey flag -o"),
        ("hey -n abc http://x/", "invalid value 'abc' for flag -n"),
        ("hey -q fast http://x/", "invalid value 'fast' for flag -q"),
        ("hey -z 10 http://x/", "invalid value for flag -z"),
        ("hey -H nocolon http://x/", "invalid value for flag -H"),
        ("hey -a nopass http://x/", "invalid value for flag -a"),
        ("hey -D /nonexistent/file http://x/", "invalid value for flag -D"),
        ("hey -disable-keepalive=maybe http://x/", "flag -disable-keepalive"),
        ("hey -n 10 -c 20 http://x/", "-n cannot be less than -c"),
        ("hey -c 0 http://x/", "-c cannot be smaller than 1"),
        ("hey -n", "flag needs an argument: -n"),
        ("hey -n 10", "missing URL"),
        ("hey", "missing URL"),
        ("hey http://x/ extra", "unexpected argument 'extra'"),
        ("hey 'unterminated", "cannot split"),
        ("hey not-a-url", "not an http"),
    ],
)
def test_bad_flags_are_named(cmd: str, message: str) -> None:
    """Unsupported flags and invalid values raise one line naming the flag."""
    with pytest.raises(LoadSpecError, match=message.replace("-", "\\-")) as info:
        parse_hey_command(cmd)
    assert "\n" not in str(info.value)
