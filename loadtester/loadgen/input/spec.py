"""What to send and how fast: :class:`LoadSpec`, and the request bytes it stands for.

Parsers build it: metadata.py (webhook metadata), heyflags.py (hey's flags), scenario.py."""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loadtester.excerpt import cut, excerpt
from loadtester.loadgen.errors import LoadSpecError

if TYPE_CHECKING:
    from loadtester.loadgen.input.mix import Mix
    from loadtester.loadgen.input.stages import Profile
    from loadtester.loadgen.input.tlsoptions import TLSOptions

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_REQUESTS", "DEFAULT_TIMEOUT", "LoadSpec",
           "encode_body"]

DEFAULT_REQUESTS = 200  # hey's default when neither -n nor -z is given
MAX_CONCURRENCY = 10_000  # one connection each: past this, file descriptors and memory run out
MAX_STREAMS = 1_000  # HTTP/2 requests in flight per connection (servers allow 100-256)
MAX_IN_FLIGHT = 100_000  # an HTTP/2 run's slots (connections x streams), each an object
DEFAULT_CONCURRENCY = 50
DEFAULT_TIMEOUT = 20.0
USER_AGENT = "loadtester"
# what may not reach a request line or header: CR/LF would inject headers, and the request is
# encoded as latin-1; a header value may hold a tab, a URL or method not even a space
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")
_URL_BAD = re.compile(r"[\x00-\x20\x7f]|[^\x00-\xff]")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One load run. ``rate`` is total requests/s (0 = closed loop, back-to-back);
    ``concurrency`` caps requests in flight (one keep-alive connection each);
    ``duration`` (seconds) wins over ``requests``; ``timeout`` is per request (0 = none).
    ``stages`` (a ramping rate; ``rate`` is then its peak and ``duration`` its length) and
    ``mix`` (a scenario's requests, which replace url, method, headers and body) are built by
    scenario.py."""

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    rate: float = 0.0
    concurrency: int = DEFAULT_CONCURRENCY
    duration: float | None = None
    requests: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    disable_keepalive: bool = False
    disable_compression: bool = False
    disable_redirects: bool = False
    host: str | None = None
    basic_auth: tuple[str, str] | None = None
    user_agent: str | None = None
    content_type: str | None = None
    accept: str | None = None
    stages: Profile | None = None
    mix: Mix | None = None
    tls: TLSOptions | None = None  # verification, client certificate, SNI (tlsoptions.py)
    # HTTP/2: over TLS (ALPN h2), or cleartext with prior knowledge; ``streams`` requests at
    # most in flight on each of the ``concurrency`` connections
    h2: bool = False
    h2c: bool = False
    streams: int = 1
    # a compare run: every request also goes, at the same scheduled instant, to this URL
    # (the primary); see compare_spec()
    compare: str | None = None
    compare_mix: Mix | None = None  # ... of a scenario: the primary's requests (scenario.py)

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 - validates the port
        except ValueError as exc:
            raise LoadSpecError(f"url {excerpt(self.url)}: {cut(str(exc), 80)}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadSpecError(f"url {excerpt(self.url)} is not an http:// or https:// URL")
        if not self.method or not self.method.isascii() or not self.method.isalpha():
            raise LoadSpecError(f"method {excerpt(self.method)} is not an HTTP method")
        _check_text("url", self.url, _URL_BAD)
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise LoadSpecError(
                f"concurrency must be between 1 and {MAX_CONCURRENCY}, got {self.concurrency}"
            )
        if self.rate < 0:
            raise LoadSpecError(f"rate must not be negative, got {self.rate:g}")
        if self.duration is not None and self.duration <= 0:
            raise LoadSpecError(f"duration must be positive, got {self.duration:g}s")
        if self.requests is not None and self.requests < 1:
            raise LoadSpecError(f"requests must be at least 1, got {self.requests}")
        if self.timeout < 0:
            raise LoadSpecError(f"timeout must not be negative, got {self.timeout:g}s")
        for what, number in (("rate", self.rate), ("duration", self.duration),
                             ("timeout", self.timeout)):
            if number is not None and not math.isfinite(number):
                raise LoadSpecError(f"{what} must be a finite number, got {number}")
        for name, value in self.headers:
            if not _TOKEN.fullmatch(name):
                raise LoadSpecError(f"invalid header name {excerpt(name)}")
            _check_text(f"header {cut(name)}", value, _HEADER_VALUE_BAD)
        for what, text in (("host", self.host), ("user agent", self.user_agent),
                           ("content type", self.content_type), ("accept", self.accept)):
            if text is not None:
                _check_text(what, text, _HEADER_VALUE_BAD)
        if self.basic_auth is not None:
            _check_text("basic auth", ":".join(self.basic_auth), _HEADER_VALUE_BAD)
        if self.h2 or self.h2c or self.streams != 1:
            _check_http2(self)
        if self.compare is not None:
            _check_compare(self)

    # ---- derived values ------------------------------------------------------------------

    @property
    def total_requests(self) -> int | None:
        """Requests to send, or None when the run is bounded by ``duration``."""
        if self.duration is not None:
            return None
        return self.requests if self.requests is not None else DEFAULT_REQUESTS

    @property
    def protocol(self) -> str:
        """``HTTP/2`` or ``HTTP/1.1``: what the run speaks."""
        return "HTTP/2" if self.h2 or self.h2c else "HTTP/1.1"

    @property
    def is_https(self) -> bool:
        """True for an https:// URL."""
        return urlsplit(self.url).scheme == "https"

    def compare_spec(self) -> LoadSpec:
        """A compare run's other target (the primary): the same requests (method, headers,
        body, pace) to the compare URL; a compare URL without a path (or ``/``) takes the
        canary URL's path and query."""
        if self.compare is None:
            raise LoadSpecError("not a compare run")
        if self.compare_mix is not None:
            return replace(self, url=self.compare_mix.requests[0].url, mix=self.compare_mix,
                           compare=None, compare_mix=None)
        return replace(self, url=_compare_url(self.url, self.compare), compare=None)

    def address(self) -> tuple[str, int]:
        """Host name (or IP) and port to connect to."""
        parts = urlsplit(self.url)
        default = 443 if parts.scheme == "https" else 80
        return parts.hostname or "", parts.port or default

    def request_bytes(self) -> bytes:
        """The complete HTTP/1.1 request, built once and sent as is for every request."""
        parts = urlsplit(self.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc = parts.netloc.rpartition("@")[2]
        fields: dict[str, tuple[str, str]] = {}

        def put(name: str, value: str) -> None:
            fields[name.lower()] = (name, value)

        put("Host", self.host or netloc)
        put("User-Agent", self.user_agent or USER_AGENT)
        if self.accept:
            put("Accept", self.accept)
        if not self.disable_compression:
            put("Accept-Encoding", "gzip")
        if self.basic_auth is not None:
            token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            put("Authorization", f"Basic {token}")
        if self.content_type:
            put("Content-Type", self.content_type)
        for name, value in self.headers:
            put(name, value)
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            put("Content-Length", str(len(self.body)))
        if self.disable_keepalive:
            put("Connection", "close")
        head = f"{self.method} {target} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in fields.values()
        )
        return head.encode("latin-1") + b"\r\n" + self.body


def _check_http2(spec: LoadSpec) -> None:
    """h2 needs TLS, h2c cleartext; streams need one of them."""
    if spec.h2 and spec.h2c:
        raise LoadSpecError("h2 and h2c are both given: h2 is HTTP/2 over TLS (https://), h2c "
                            "over cleartext (http://)")
    if not 1 <= spec.streams <= MAX_STREAMS:
        raise LoadSpecError(f"streams must be between 1 and {MAX_STREAMS}, got {spec.streams}")
    if spec.concurrency * spec.streams > MAX_IN_FLIGHT:
        raise LoadSpecError(f"concurrency x streams is at most {MAX_IN_FLIGHT} requests in "
                            f"flight, got {spec.concurrency} x {spec.streams}")
    if not (spec.h2 or spec.h2c):
        raise LoadSpecError(f"streams {spec.streams} needs HTTP/2: give h2 (https://) or h2c "
                            "(http://)")
    if spec.disable_keepalive:
        raise LoadSpecError("disable keep-alive does not apply to HTTP/2: its connections "
                            "carry many requests")
    tls = [e.tls for e in spec.mix.endpoints] if spec.mix is not None else [spec.is_https]
    if spec.h2 and not all(tls):
        raise LoadSpecError("h2 is HTTP/2 over TLS and needs https:// URLs: for HTTP/2 over "
                            "cleartext (http://) use h2c")
    if spec.h2c and any(tls):
        raise LoadSpecError("h2c is HTTP/2 over cleartext and needs http:// URLs: for https:// "
                            "use h2")


def _compare_url(url: str, compare: str) -> str:
    """The compare target's URL: ``compare``, with ``url``'s path and query when it has none."""
    parts = urlsplit(compare)
    if parts.path in ("", "/") and not parts.query:
        mine = urlsplit(url)
        return parts._replace(path=mine.path or "/", query=mine.query).geturl()
    return compare


def _check_compare(spec: LoadSpec) -> None:
    """A compare URL is an http(s) URL other than the canary's; a scenario's requests each go
    elsewhere on the primary than on the canary."""
    compare = spec.compare or ""
    try:
        parts = urlsplit(compare)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise LoadSpecError(f"compare {excerpt(compare)}: {cut(str(exc), 80)}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadSpecError(f"compare {excerpt(compare)} is not an http:// or https:// URL")
    _check_text("compare", compare, _URL_BAD)
    if spec.mix is None:
        if _compare_url(spec.url, compare) == spec.url:
            raise LoadSpecError(f"compare {excerpt(compare)} is the canary's url: compare with "
                                "another target (the primary)")
        return
    if spec.compare_mix is None or len(spec.compare_mix.requests) != len(spec.mix.requests):
        raise LoadSpecError("compare on a scenario: the primary's requests are not built "
                            "(scenario.py builds them)")
    for mine, theirs in zip(spec.mix.requests, spec.compare_mix.requests, strict=True):
        if mine.url == theirs.url:
            raise LoadSpecError(f"compare: scenario request {excerpt(mine.name)} goes to "
                                f"{excerpt(mine.url)} on the canary and the primary")


def _check_text(what: str, text: str, bad: re.Pattern[str]) -> None:
    found = bad.search(text)
    if found is None:
        return
    char = found.group()
    if char in "\r\n":
        kind = "CR or LF"
    elif char == " ":
        kind = "a space"
    elif ord(char) < 0x20 or char == "\x7f":
        kind = "a control character"
    else:
        kind = "a character outside latin-1"
    raise LoadSpecError(f"{what} contains {kind} ({char!a}): not sent as a request line "
                        "or header")


def encode_body(text: str, what: str) -> bytes:
    """A request body as UTF-8; a lone surrogate (not text) is refused."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise LoadSpecError(f"{what} is not valid unicode text") from None
