"""LoadSpec from structured webhook metadata, and the request bytes it sends."""

from __future__ import annotations

import pytest

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.metadata import spec_from_metadata
from loadtester.loadgen.input.spec import LoadSpec


def test_from_metadata_full() -> None:
    """Every structured key is read with its unit (Go durations, total rate)."""
    spec = spec_from_metadata(
        {
            "url": "http://podinfo-canary.test:9898/echo?x=1",
            "method": "post",
            "headers": "X-A: b\nContent-Type: application/json\n\n",
            "body": '{"a":1}',
            "rate": "25.5",
            "concurrency": "4",
            "duration": "1m30s",
            "timeout": "500ms",
            "type": "load",
            "maxP99": "500ms",
        }
    )
    assert spec.method == "POST"
    assert spec.headers == (("X-A", "b"), ("Content-Type", "application/json"))
    assert spec.body == b'{"a":1}'
    assert (spec.rate, spec.concurrency, spec.duration, spec.timeout) == (25.5, 4, 90.0, 0.5)
    assert spec.total_requests is None


def test_from_metadata_defaults_and_cmd() -> None:
    """Only a url: hey's defaults (200 requests, 50 connections, 20 s); a hey cmd also works."""
    spec = spec_from_metadata({"url": "http://x/"})
    assert (spec.total_requests, spec.concurrency, spec.timeout, spec.rate) == (200, 50, 20.0, 0)
    assert spec_from_metadata({"url": "http://x/", "requests": "10"}).concurrency == 10
    spec = spec_from_metadata({"cmd": "hey -z 10s -q 5 -c 2 http://x/"})
    assert (spec.duration, spec.rate) == (10.0, 10.0)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({}, "url is required"),
        ({"url": "ftp://x/"}, "not an http"),
        ({"url": "http://x/", "rate": "fast"}, "rate 'fast' is not a number"),
        ({"url": "http://x/", "rate": "-1"}, "rate must be"),
        ({"url": "http://x/", "concurrency": "0"}, "concurrency must be at least 1"),
        ({"url": "http://x/", "requests": "1.5"}, "requests '1.5' is not an integer"),
        ({"url": "http://x/", "duration": "10x"}, "duration: invalid duration"),
        ({"url": "http://x/", "duration": "0s"}, "duration must be positive"),
        ({"url": "http://x/", "headers": "no colon"}, "is not 'Name: value'"),
    ],
)
def test_from_metadata_errors(metadata: dict[str, str], message: str) -> None:
    """Bad metadata raises LoadSpecError (a ValueError) with one line naming the key."""
    with pytest.raises(LoadSpecError, match=message) as info:
        spec_from_metadata(metadata)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_request_bytes() -> None:
    """The request is built once: path and query, Host, auth, body length, custom headers win."""
    spec = LoadSpec(
        url="http://example.test:8080/a/b?c=d",
        method="PUT",
        headers=(("User-Agent", "mine"), ("X-Id", "7")),
        body=b"hello",
        basic_auth=("user", "pass"),
        content_type="text/plain",
        disable_keepalive=True,
        disable_compression=True,
    )
    raw = spec.request_bytes()
    head, body = raw.split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"PUT /a/b?c=d HTTP/1.1"
    assert b"Host: example.test:8080" in lines
    assert b"User-Agent: mine" in lines
    assert b"Authorization: Basic dXNlcjpwYXNz" in lines
    assert b"Content-Length: 5" in lines
    assert b"Connection: close" in lines
    assert not any(line.startswith(b"Accept-Encoding") for line in lines)
    assert body == b"hello"
    assert b"Host: other" in LoadSpec(url="http://x/", host="other").request_bytes()
