"""Webhook metadata read into a :class:`LoadSpec` and its :class:`Thresholds`: Flagger's
``metadata`` map of strings (``url``, ``rate``, ``maxP99``, ...), or a hey command in ``cmd``."""

from __future__ import annotations

from collections.abc import Mapping

from loadtester.durations import MAX_DURATION, parse_go_duration
from loadtester.excerpt import excerpt
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.heyflags import parse_hey_command
from loadtester.loadgen.input.spec import (
    DEFAULT_CONCURRENCY,
    DEFAULT_REQUESTS,
    DEFAULT_TIMEOUT,
    LoadSpec,
    encode_body,
)
from loadtester.loadgen.results.thresholds import Thresholds

__all__ = ["metadata_duration", "metadata_number", "spec_from_metadata",
           "thresholds_from_metadata"]


def spec_from_metadata(metadata: Mapping[str, str]) -> LoadSpec:
    """Build from structured webhook metadata (``url``, ``method``, ``headers``, ``body``,
    ``rate``, ``concurrency``, ``duration``, ``requests``, ``timeout``; optional ``host``,
    ``contentType``, ``disableKeepalive``, ``h2``, ``h2c``, ``streams``). If there is no
    ``url`` but a ``cmd`` holding a hey command line, that command is parsed instead."""
    if not metadata.get("url") and metadata.get("cmd"):
        return parse_hey_command(metadata["cmd"])
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
    return LoadSpec(
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
        h2=_bool(metadata, "h2"),
        h2c=_bool(metadata, "h2c"),
        streams=_int(metadata, "streams", 1, minimum=1) or 1,
    )


def thresholds_from_metadata(metadata: Mapping[str, str]) -> Thresholds:
    """Read ``maxErrorRate`` (percent), ``maxP50``/``maxP95``/``maxP99`` (Go durations; a bare
    number is milliseconds) and ``minRate`` (requests/s); others are ignored."""
    max_error_rate = metadata_number(metadata, "maxErrorRate", None)
    if max_error_rate is not None and max_error_rate > 100:
        raise LoadSpecError(f"metadata maxErrorRate is a percentage: at most 100, got "
                            f"{excerpt(metadata['maxErrorRate'])}")
    return Thresholds(
        max_error_rate=max_error_rate,
        max_p50=metadata_duration(metadata, "maxP50", None, bare_unit=0.001),
        max_p95=metadata_duration(metadata, "maxP95", None, bare_unit=0.001),
        max_p99=metadata_duration(metadata, "maxP99", None, bare_unit=0.001),
        min_rate=metadata_number(metadata, "minRate", None),
    )


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


def _bool(metadata: Mapping[str, str], key: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no); absent or empty is false."""
    text = metadata.get(key, "").strip().lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    raise LoadSpecError(f"metadata {key} {excerpt(text)} is not true or false")


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
