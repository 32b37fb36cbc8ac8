"""What to send and how fast: :class:`LoadSpec`, built from webhook metadata or hey flags."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loadtester.durations import MAX_DURATION, parse_go_duration
from loadtester.excerpt import cut, excerpt

if TYPE_CHECKING:
    from loadtester.loadgen.scenario import Mix
    from loadtester.loadgen.stages import Profile

__all__ = ["DEFAULT_REQUESTS", "LoadSpec", "LoadSpecError"]

DEFAULT_REQUESTS = 200  # hey's default when neither -n nor -z is given
MAX_CONCURRENCY = 10_000  # one connection each: past this, file descriptors and memory run out
DEFAULT_CONCURRENCY = 50
DEFAULT_TIMEOUT = 20.0
USER_AGENT = "loadtester"
# what may not reach a request line or header: CR/LF would inject headers, and the request is
# encoded as latin-1; a header value may hold a tab, a URL or method not even a space
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")
_URL_BAD = re.compile(r"[\x00-\x20\x7f]|[^\x00-\xff]")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class LoadSpecError(ValueError):
    """A load description that cannot be run; the message is one line naming the culprit."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One load run. ``rate`` is total requests/s (0 = closed loop, back-to-back);
    ``concurrency`` caps requests in flight (one keep-alive connection each);
    ``duration`` (seconds) wins over ``requests``; ``timeout`` is per request (0 = none).
    ``stages`` (a ramping rate; ``rate`` is then its peak and ``duration`` its length) and
    ``mix`` (a scenario's requests, which replace url, method, headers and body) are built by
    loadgen/scenario.py."""

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

    # ---- derived values ------------------------------------------------------------------

    @property
    def total_requests(self) -> int | None:
        """Requests to send, or None when the run is bounded by ``duration``."""
        if self.duration is not None:
            return None
        return self.requests if self.requests is not None else DEFAULT_REQUESTS

    @property
    def is_https(self) -> bool:
        """True for an https:// URL."""
        return urlsplit(self.url).scheme == "https"

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

    # ---- constructors --------------------------------------------------------------------

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> LoadSpec:
        """Build from structured webhook metadata (``url``, ``method``, ``headers``, ``body``,
        ``rate``, ``concurrency``, ``duration``, ``requests``, ``timeout``; optional
        ``host``, ``contentType``, ``disableKeepalive``). If there is no ``url`` but a
        ``cmd`` holding a hey command line, that command is parsed instead."""
        if not metadata.get("url") and metadata.get("cmd"):
            return cls.from_hey_command(metadata["cmd"])
        url = metadata.get("url", "").strip()
        if not url:
            raise LoadSpecError("metadata url is required")
        concurrency = _int(metadata, "concurrency", None, minimum=1) or DEFAULT_CONCURRENCY
        requests = _int(metadata, "requests", None, minimum=1)
        duration = metadata_duration(metadata, "duration", None)
        if duration is not None and duration <= 0:
            raise LoadSpecError(f"metadata duration must be positive, got "
                                f"{excerpt(metadata['duration'])}")
        total = requests if requests is not None else DEFAULT_REQUESTS
        if duration is None:
            concurrency = min(concurrency, total)
        return cls(
            url=url,
            method=metadata.get("method", "GET").strip().upper() or "GET",
            headers=_headers(metadata.get("headers", "")),
            body=encode_body(metadata.get("body", ""), "metadata body"),
            rate=metadata_number(metadata, "rate", 0.0) or 0.0,
            concurrency=concurrency,
            duration=duration,
            requests=requests,
            timeout=metadata_duration(metadata, "timeout", DEFAULT_TIMEOUT) or 0.0,
            host=metadata.get("host") or None,
            content_type=metadata.get("contentType") or None,
            disable_keepalive=metadata.get("disableKeepalive", "").lower() in ("true", "1", "yes"),
        )

    @classmethod
    def from_hey_args(cls, argv: list[str]) -> LoadSpec:
        """Build from hey's command-line flags and URL, with hey's meaning for each flag."""
        from loadtester.loadgen.heyflags import parse_hey_args

        return parse_hey_args(argv)

    @classmethod
    def from_hey_command(cls, cmd: str) -> LoadSpec:
        """Build from a hey command line (shell-split; a leading ``hey`` is optional)."""
        from loadtester.loadgen.heyflags import parse_hey_command

        return parse_hey_command(cmd)


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


def _headers(text: str) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise LoadSpecError(f"metadata headers: {excerpt(line.strip())} is not 'Name: value'")
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


def _int(metadata: Mapping[str, str], key: str, default: int | None, minimum: int) -> int | None:
    text = metadata.get(key, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise LoadSpecError(f"metadata {key} {excerpt(text)} is not an integer") from None
    if value < minimum:
        raise LoadSpecError(f"metadata {key} must be at least {minimum}, got {value}")
    return value


def metadata_number(metadata: Mapping[str, str], key: str, default: float | None) -> float | None:
    """A finite number >= 0 (a trailing % is allowed, for percentages)."""
    text = str(metadata.get(key, "")).strip().rstrip("%")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise LoadSpecError(f"metadata {key} {excerpt(text)} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise LoadSpecError(f"metadata {key} must be a finite number >= 0, got {excerpt(text)}")
    return value


def metadata_duration(
    metadata: Mapping[str, str], key: str, default: float | None, bare_unit: float = 1.0
) -> float | None:
    """A Go duration in seconds; a bare number counts in `bare_unit` seconds."""
    text = str(metadata.get(key, "")).strip()
    if not text:
        return default
    try:
        value = float(text) * bare_unit
    except ValueError:
        try:
            value = parse_go_duration(text)
        except ValueError as exc:
            raise LoadSpecError(f"metadata {key}: {exc}") from None
    if not 0 <= value <= MAX_DURATION:
        raise LoadSpecError(f"metadata {key} must be a finite duration >= 0, got "
                            f"{excerpt(text)}")
    return value
