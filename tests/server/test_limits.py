"""What one request may cost: files, request text and numbers are bounded."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from loadtester.durations import parse_go_duration
from loadtester.files import FileRefused, read_regular_file
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.heyflags import parse_hey_command
from loadtester.loadgen.input.metadata import spec_from_metadata
from loadtester.loadgen.input.spec import LoadSpec
from tests.support.client import ClientFactory
from tests.support.tasks import payload, post

CLOSED = "http://127.0.0.1:1/"


def load(cmd: str | None = None, **metadata: str) -> dict[str, Any]:
    """A `type: load` payload with a hey command line or structured metadata."""
    meta = {"type": "load", **metadata}
    if cmd is not None:
        meta["cmd"] = cmd
    return payload(meta)


async def test_dev_zero_body_file_is_refused_fast(make_client: ClientFactory) -> None:
    """`-D /dev/zero` answers 400 at once and /healthz keeps answering."""
    client = await make_client()
    started = time.monotonic()
    status, body = await post(client, load(f"hey -n 1 -c 1 -D /dev/zero {CLOSED}"))
    assert (status, body) == (
        400, "invalid value for flag -D: not a regular file (a character device): /dev/zero")
    assert time.monotonic() - started < 5  # generous: it used to read 4 GB before answering
    async with client.get("/healthz") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: str(tmp), "not a regular file (a directory)"),
        (lambda tmp: (os.mkfifo(tmp / "fifo"), str(tmp / "fifo"))[1],
         "not a regular file (a FIFO)"),
        (lambda tmp: str(tmp / "missing"), "No such file or directory"),
        (lambda tmp: ((tmp / "big").write_bytes(b"x" * (10 * 1024 * 1024 + 1)),
                      str(tmp / "big"))[1], "larger than 10485760 bytes"),
    ],
    ids=["directory", "fifo", "missing", "over-10MiB"],
)
async def test_body_file_must_be_small_regular_file(
    make_client: ClientFactory, tmp_path: Path, make: Any, reason: str
) -> None:
    """-D names a regular file of at most 10 MiB; anything else is 400 with the reason."""
    client = await make_client()
    path = make(tmp_path)
    status, body = await post(client, load(f"hey -n 1 -c 1 -D {path} {CLOSED}"))
    assert status == 400
    assert body.startswith("invalid value for flag -D: ") and reason in body, body


async def test_body_file_is_sent(make_client: ClientFactory, tmp_path: Path) -> None:
    """A regular -D file becomes the body of every request, as with hey."""
    body_file = tmp_path / "body.json"
    body_file.write_bytes(b'{"x": 1}')
    client = await make_client()
    status, body = await post(client, load(f"hey -n 1 -c 1 -m POST -D {body_file} {CLOSED}",
                                           wait="true"))
    # the target is a closed port: the run fails, but only after the file was read and sent on
    assert status == 500 and body.startswith("all 1 requests failed"), body


def test_read_regular_file_limits(tmp_path: Path) -> None:
    """The file reader refuses devices, FIFOs and files over the limit, and reads the rest."""
    small = tmp_path / "small"
    small.write_bytes(b"12345")
    assert read_regular_file(str(small), 5) == b"12345"
    with pytest.raises(FileRefused, match="larger than 4 bytes"):
        read_regular_file(str(small), 4)
    with pytest.raises(FileRefused, match="character device"):
        read_regular_file("/dev/zero", 1024)
    with pytest.raises(FileRefused, match="not a file name"):
        read_regular_file("a\x00b", 1024)


@pytest.mark.parametrize(
    "target", ["/dev/zero", "/dev/urandom", "<tmp>", "<fifo>", "<big>", "<missing>"]
)
async def test_concord_api_key_path_is_bounded(
    make_client: ClientFactory, tmp_path: Path, target: str
) -> None:
    """Concord's apiKeyPath reads only a regular file of at most 64 KiB; else Go's 500 for a
    Concord set-up error, nothing sent."""
    paths = {"<tmp>": str(tmp_path), "<fifo>": str(tmp_path / "fifo"),
             "<big>": str(tmp_path / "big"), "<missing>": str(tmp_path / "missing")}
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big").write_bytes(b"k" * (64 * 1024 + 1))
    client = await make_client()
    meta = {"type": "concord", "server": CLOSED, "org": "o", "project": "p", "repo": "r",
            "entrypoint": "e", "endpoint": "x", "apiKeyPath": paths.get(target, target)}
    status, body = await asyncio.wait_for(post(client, payload(meta)), 10)
    assert status == 500, body
    assert ("apiKeyPath" in body or body.endswith(": is a directory")) and "\n" not in body


async def test_concord_key_with_newline_inside_is_refused(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """A key file of two lines would inject a header: 500 (Go's for Concord) before anything
    is sent."""
    key = tmp_path / "key"
    key.write_text("secret\nX-Injected: 1\n")
    client = await make_client()
    meta = {"type": "concord", "server": CLOSED, "org": "o", "project": "p", "repo": "r",
            "entrypoint": "e", "endpoint": "x", "apiKeyPath": str(key)}
    status, body = await post(client, payload(meta))
    assert status == 500 and "more than one line" in body and "secret" not in body


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"cmd": "hey -n 1 -c 1 -host 'a\r\nX-Injected: 1' " + CLOSED}, "host contains CR or LF"),
        ({"cmd": "hey -n 1 -c 1 -T 'text/plain\nX: 1' " + CLOSED}, "content type contains CR"),
        ({"cmd": "hey -n 1 -c 1 -A 'a\rb' " + CLOSED}, "accept contains CR or LF"),
        ({"cmd": "hey -n 1 -c 1 -H 'X-A: b\rc' " + CLOSED}, "header X-A contains CR or LF"),
        ({"cmd": "hey -n 1 -c 1 -A '\u20ac' " + CLOSED}, "outside latin-1"),
        ({"cmd": "hey -n 1 -c 1 -host '\u0100' " + CLOSED}, "outside latin-1"),
        ({"cmd": "hey -n 1 -c 1 -H 'X\u00e9: 1' " + CLOSED}, "invalid header name"),
        ({"cmd": "hey -n 1 -c 1 -a 'u:\u20ac' " + CLOSED}, "basic auth"),
        ({"url": CLOSED, "host": "a\r\nX-Injected: 1"}, "host contains CR or LF"),
        ({"url": CLOSED, "headers": "X-A: \u2603"}, "outside latin-1"),
        ({"url": CLOSED, "method": "GET /x HTTP/1.1\r\nX"}, "not an HTTP method"),
        ({"url": CLOSED, "method": "G\u0130T"}, "not an HTTP method"),
        ({"url": CLOSED + "a b"}, "url contains a space"),
        ({"url": CLOSED + "\u2603"}, "url contains a character outside latin-1"),
        ({"url": CLOSED + "x\x00"}, "url contains a control character"),
        ({"url": CLOSED, "body": "\ud800"}, "surrogate"),
        ({"cmd": "hey -n 1 -c 1 -d '\ud800' " + CLOSED}, "surrogate"),
    ],
)
async def test_request_text_is_checked(
    make_client: ClientFactory, metadata: dict[str, str], named: str
) -> None:
    """CR, LF, controls or non-latin-1 in what becomes a request line or header: 400."""
    client = await make_client()
    status, body = await post(client, load(**metadata))
    assert status == 400, body
    assert named in body and "\n" not in body and "\r" not in body, body


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"duration": "inf"}, "duration"),
        ({"duration": "nan"}, "duration"),
        ({"duration": "-1s"}, "duration"),
        ({"timeout": "nan"}, "timeout"),
        ({"timeout": "inf"}, "timeout"),
        ({"timeout": "-5s"}, "timeout"),
        ({"rate": "inf"}, "rate"),
        ({"rate": "nan"}, "rate"),
        ({"rate": "-1"}, "rate"),
        ({"maxP99": "-1s"}, "maxP99"),
        ({"maxP50": "nan"}, "maxP50"),
        ({"maxP95": "inf"}, "maxP95"),
        ({"maxErrorRate": "-1"}, "maxErrorRate"),
        ({"maxErrorRate": "101"}, "maxErrorRate"),
        ({"maxErrorRate": "nan"}, "maxErrorRate"),
        ({"minRate": "-0.5"}, "minRate"),
        ({"duration": "9" * 400 + "s"}, "duration"),
        ({"duration": "2h"}, "-timeout 1h"),
        ({"timeout": "61m"}, "-timeout 1h"),
    ],
)
async def test_invalid_numbers_are_refused(
    make_client: ClientFactory, metadata: dict[str, str], named: str
) -> None:
    """inf, nan, negative thresholds and durations past -timeout answer 400 naming the key."""
    client = await make_client()
    status, body = await post(client, load(url=CLOSED, **metadata))
    assert status == 400, body
    assert named in body, body


@pytest.mark.parametrize(
    "cmd",
    ["hey -z 2h " + CLOSED, "hey -t 7200 -n 1 -c 1 " + CLOSED, "hey -q inf -n 1 -c 1 " + CLOSED,
     "hey -q nan -n 1 -c 1 " + CLOSED, "hey -z 99999999999999999999h " + CLOSED],
)
async def test_hey_numbers_are_bounded(make_client: ClientFactory, cmd: str) -> None:
    """hey's -z, -t and -q: past -timeout, inf or nan is 400."""
    client = await make_client()
    status, body = await post(client, load(cmd))
    assert status == 400, body


async def test_cmd_thresholds_are_checked(make_client: ClientFactory) -> None:
    """Thresholds on hey through `cmd` are checked the same way (negative: 400)."""
    client = await make_client()
    meta = {"cmd": "true", "maxP99": "-1s"}
    status, body = await post(client, payload(meta))
    assert status == 400 and "maxP99" in body


async def test_valid_values_stay_accepted(make_client: ClientFactory) -> None:
    """Drop-in: the values a Canary uses today still start a run (202)."""
    client = await make_client()
    meta = {"url": CLOSED, "rate": "100", "concurrency": "20", "duration": "1m",
            "maxErrorRate": "1%", "maxP99": "500ms", "minRate": "0", "timeout": "0",
            "headers": "X-A: b\tc\nAccept: */*", "host": "podinfo.test", "method": "post"}
    status, body = await post(client, load(**meta))
    assert status == 202, body


def test_go_duration_range() -> None:
    """A duration past Go's int64 nanoseconds (~292 years) is an error, not inf."""
    assert parse_go_duration("2562047h") == 2562047 * 3600.0
    with pytest.raises(ValueError, match="out of range"):
        parse_go_duration("2562048h")
    with pytest.raises(ValueError, match="out of range"):
        parse_go_duration("1" + "0" * 400 + "s")


def test_lone_surrogate_body_is_refused_by_the_spec() -> None:
    """A body that is not text (a lone surrogate) is a LoadSpecError, not a crash."""
    with pytest.raises(LoadSpecError, match="metadata body is not valid unicode"):
        spec_from_metadata({"url": CLOSED, "body": "\ud800"})
    with pytest.raises(LoadSpecError, match="flag -d is not valid unicode"):
        parse_hey_command("hey -d '\ud800' " + CLOSED)


def test_spec_checks_header_names() -> None:
    """A header name is an RFC 9110 token: no space, colon or control character."""
    with pytest.raises(LoadSpecError, match="invalid header name"):
        LoadSpec(url=CLOSED, headers=(("X A", "b"),))
    spec = LoadSpec(url=CLOSED, headers=(("X-A", "b\tc"),), host="h\u00e9")
    assert spec.request_bytes().startswith(b"GET / HTTP/1.1\r\nHost: h\xe9\r\n")
