"""ResponseHead reads the heads it reads exactly as httptools does, and leaves every other
head (incomplete, chunked, malformed, ...) to httptools: checked on examples and, with
hypothesis, against httptools itself on generated heads."""

from __future__ import annotations

from dataclasses import dataclass

import httptools
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loadtester.loadgen.running.responsehead import KNOWN, ResponseHead

NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 09:26:03 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 15\r\nConnection: keep-alive\r\n\r\n"
)


@dataclass
class Verdict:
    """What httptools makes of an answer: its status, body bytes, keep-alive, completions."""

    status: int = 0
    body: int = 0
    keep: bool | None = None
    complete: int = 0
    error: str = ""


class _Oracle:
    """httptools' callbacks, noting what a connection would read of them."""

    def __init__(self) -> None:
        self.verdict = Verdict()
        self.parser = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        self.verdict.body += len(body)

    def on_message_complete(self) -> None:
        self.verdict.complete += 1
        self.verdict.status = self.parser.get_status_code()
        self.verdict.keep = self.parser.should_keep_alive()


def httptools_verdict(data: bytes) -> Verdict:
    """httptools' verdict on ``data``: one answer, fed whole."""
    oracle = _Oracle()
    try:
        oracle.parser.feed_data(data)
    except httptools.HttpParserError as exc:
        oracle.verdict.error = str(exc)
    return oracle.verdict


def parsed(data: bytes, start: int = 0) -> tuple[int, int, int, bool]:
    """ResponseHead.parse of ``data`` from ``start``: the index after the head, the status,
    the body's length and keep-alive."""
    head = ResponseHead()
    after = head.parse(data, start, len(data))
    return after, head.status, head.length, head.keep


@pytest.mark.parametrize(
    ("head", "status", "length", "keep"),
    [
        (NGINX, 200, 15, True),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404, 0, True),
        (b"HTTP/1.1 200\r\ncontent-length:3\r\n\r\n", 200, 3, True),
        (b"HTTP/1.1 503 Busy\r\nCONTENT-LENGTH: \t 7 \t\r\nConnection: Close\r\n\r\n",
         503, 7, False),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\n",
         200, 1, False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", 200, 2, False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\n", 200, 2, True),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 204, 0, True),
        (b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", 304, 0, True),
        (b"HTTP/1.1 200 OK\r\nX-Obs: caf\xc3\xa9\r\nContent-Length: 4\r\n\r\n", 200, 4, True),
    ],
)  # fmt: skip
def test_reads_common_heads_as_httptools(head: bytes, status: int, length: int, keep: bool) -> None:
    """Common heads are read: where they end, status, body length and keep-alive, which are
    httptools' own figures for the same answer."""
    assert parsed(head + b"x" * length + b"next") == (len(head), status, length, keep)
    verdict = httptools_verdict(head + b"x" * length)
    assert (verdict.status, verdict.body, verdict.keep) == (status, length, keep)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",  # httptools reads chunks
        b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",  # the body ends with the connection
        b"HTTP/1.1 100 Continue\r\n\r\n",  # a 1xx: another head follows
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",  # httptools: error
        b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 5\n\n",  # LF alone
        b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: empty\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.2 200 OK\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/2.0 200 OK\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 5\r\n\r\n",
        b"http/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r",
        b"",
    ],
)  # fmt: skip
def test_leaves_other_heads_to_httptools(head: bytes) -> None:
    """Heads ResponseHead does not read, as they are or followed by a body: -1."""
    assert parsed(head)[0] == -1
    assert parsed(head + b"hello")[0] == -1


def test_an_incomplete_head_is_left_to_httptools() -> None:
    """Cut anywhere before its end, a head is not read; from an offset, it ends there."""
    for cut in range(len(NGINX)):
        assert parsed(NGINX[:cut])[0] == -1
        assert ResponseHead().parse(NGINX + b"x" * 15, 0, cut) == -1
    assert parsed(b"x" * 15 + NGINX, 15)[0] == 15 + len(NGINX)


def test_reading_stays_within_the_given_end() -> None:
    """An end beyond the data is refused, not read past; None is a TypeError."""
    assert ResponseHead().parse(NGINX, 0, len(NGINX) + 1) == -1
    with pytest.raises(TypeError):
        ResponseHead().parse(None, 0, 0)  # type: ignore[arg-type]


# generated answers: well-formed ones (``odd``: with every kind of deviation now and then)
_TCHAR = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~",
                 min_size=1, max_size=12)  # fmt: skip
_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20).map(str.encode)
_BYTES = st.binary(max_size=20).map(lambda b: b.replace(b"\r\n", b""))
_OWS = st.sampled_from([b"", b" ", b"  ", b"\t", b" \t "])


def _pick(draw: st.DrawFn, odd: bool, usual: list[bytes], deviations: list[bytes]) -> bytes:
    """One of ``usual``, or (``odd``) now and then one of ``deviations``."""
    return draw(st.sampled_from(usual * 8 + deviations if odd else usual))


@st.composite
def _header(draw: st.DrawFn, odd: bool) -> bytes:
    """One header line other than Content-Length, often one ResponseHead looks at."""
    kind = draw(st.sampled_from(["connection", "other", "other"] + (["te", "odd"] if odd else [])))
    if kind == "connection":
        name = draw(st.sampled_from([b"Connection", b"connection", b"CONNECTION"]))
        usual = [b"close", b"keep-alive", b"Keep-Alive", b"CLOSE", b"te", b""]
        tokens = draw(st.lists(st.sampled_from(usual + ([b"upgrade", b"closed"] if odd else [])),
                               max_size=3))  # fmt: skip
        value = draw(st.sampled_from([b",", b", ", b" ,"])).join(tokens)
    elif kind == "other":
        name = draw(_TCHAR).encode()
        value = draw(st.one_of(_TEXT, _BYTES) if odd else _TEXT)
    else:
        name = draw(st.sampled_from(
            [b"Transfer-Encoding"] if kind == "te"
            else [b"", b"Content Length", b"X\x00", b" X", b"Content-Length\t"]
        ))  # fmt: skip
        value = draw(st.sampled_from([b"chunked", b"gzip", b"5"]))
    end = _pick(draw, odd, [b"\r\n"], [b"\n", b"\r", b"\r\n "])
    return name + b":" + draw(_OWS) + value + draw(_OWS) + end


@st.composite
def _answer(draw: st.DrawFn, odd: bool) -> bytes:
    """A generated answer: status line, headers, blank line, a body of 0-40 bytes."""
    version = _pick(draw, odd, [b"HTTP/1.1", b"HTTP/1.0"], [b"HTTP/1.2", b"HTTP/2"])
    status = _pick(draw, odd, [b"%d" % draw(st.integers(200, 599))], [b"1%02d" % draw(
        st.integers(0, 99)), b"099", b"2000", b"20", b"abc"])  # fmt: skip
    reason = _pick(draw, odd, [b" OK", b"", b" ", b" Not Found", b" \xc3\xa9"], [b" a\x01b"])
    headers = draw(st.lists(_header(odd), max_size=5))
    length = b"%d" % draw(st.integers(0, 40))
    value = _pick(draw, odd, [length], [b"", b"1 2", b"+5", b"-1", b"0x10", b"9" * 20])
    if not odd or draw(st.integers(0, 3)):  # a Content-Length, somewhere
        for _ in range(1 + (odd and draw(st.integers(0, 5)) == 0)):  # (odd: now and then two)
            line = draw(st.sampled_from([b"Content-Length", b"content-length", b"CONTENT-length"]))
            line += b":" + draw(_OWS) + value + draw(_OWS) + b"\r\n"
            headers.insert(draw(st.integers(0, len(headers))), line)
    body = b"x" * draw(st.integers(0, 40))
    return version + b" " + status + reason + b"\r\n" + b"".join(headers) + b"\r\n" + body


def _agrees_with_httptools(data: bytes) -> int:
    """Where ResponseHead's reading of ``data`` ends; if it reads it, httptools reads the same
    head (with the body it announces) without an error, to the same status, body length and
    keep-alive, and ResponseHead reads it the same from an offset and not when cut short."""
    after, status, length, keep = parsed(data)
    if after >= 0:
        verdict = httptools_verdict(data[:after] + b"x" * length)
        assert verdict == Verdict(status=status, body=length, keep=keep, complete=1)
        assert parsed(b"HTTP/1.1" + data, 8) == (8 + after, status, length, keep)
        assert ResponseHead().parse(data, 0, after - 1) == -1
    return after


@settings(max_examples=3000, deadline=None)
@given(_answer(odd=True))
@example(NGINX + b"x" * 15)
def test_what_it_reads_httptools_reads_the_same(data: bytes) -> None:
    """Whatever head ResponseHead reads, httptools reads to the same figures."""
    _agrees_with_httptools(data)


@settings(max_examples=1000, deadline=None)
@given(_answer(odd=False))
def test_well_formed_answers_are_read(data: bytes) -> None:
    """Well-formed answers with a Content-Length are read (so httptools' callbacks are not
    on the hot path), and as httptools reads them."""
    assert _agrees_with_httptools(data) >= 0


@settings(max_examples=1000, deadline=None)
@given(_answer(odd=False), _answer(odd=True))
@example(NGINX, NGINX.replace(b"200 OK", b"503 OK"))
@example(NGINX, NGINX[:-20] + b"keep-alive\r\n\r\n")
def test_a_connection_reads_each_head_as_a_fresh_one_would(first: bytes, then: bytes) -> None:
    """A ResponseHead that read a head before (and keeps it, to know it again at the cost of a
    comparison) reads the next one as a new ResponseHead does, the same head again included."""
    head = ResponseHead()
    for data in (first, first, then, then, first):
        after, *figures = parsed(data)
        assert head.parse(data, 0, len(data)) == after
        if after >= 0:
            assert [head.status, head.length, head.keep] == figures


def test_a_mix_of_heads_is_known_again_whatever_their_order() -> None:
    """Each of a mix's heads is read once and then known by comparison, in whatever order
    they come (which the scheduling decides); beyond KNOWN distinct heads the oldest is
    forgotten, and every head is still read right."""
    heads = [NGINX.replace(b"Length: 15", b"Length: %d" % n) for n in range(10, 11 + KNOWN)]
    head = ResponseHead()
    for order in (heads[:3], heads[2::-1], heads[1:3] + heads[:1]):
        for data in order:
            assert head.parse(data, 0, len(data)) == len(data)
            assert head.length == int(data.split(b"Length: ")[1][:2])
    assert [known.raw for known in head.known] == heads[2::-1]  # read once each, latest first
    for data in heads:
        assert head.parse(data, 0, len(data)) == len(data)
        assert head.length == int(data.split(b"Length: ")[1][:2])
    assert [known.raw for known in head.known] == heads[:0:-1]
