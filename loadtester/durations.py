"""Go duration syntax (`90s`, `1m30s`, `500ms`, `1h`), as Flagger users write it."""

from __future__ import annotations

import re

from loadtester.excerpt import excerpt

__all__ = ["MAX_DURATION", "QUOTED", "format_duration", "parse_go_duration"]

QUOTED = 60  # characters of a bad duration its error quotes: a real one is never longer

_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 micro sign
    "μs": 1e-6,  # U+03BC greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
MAX_DURATION = (2**63 - 1) / 1e9  # Go's time.Duration is int64 nanoseconds: about 292 years


def parse_go_duration(text: str) -> float:
    """Parse a Go duration string (as Go's ``time.ParseDuration``) into seconds.

    Accepts an optional sign and one or more ``<number><unit>`` parts with units
    ns, us (or µs), ms, s, m, h, e.g. ``1h2m3.5s``; ``0`` alone is allowed.
    Raises ValueError with a one-line message on anything else.
    """
    raw = text
    s = text.strip()
    if not s:
        raise _invalid(raw, "empty")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise _invalid(raw)
    total = 0.0
    pos = 0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            if s[pos:].replace(".", "", 1).isdigit():
                raise _invalid(raw, "missing unit (use e.g. 10s, 500ms, 1m30s)")
            raise _invalid(raw, "expected e.g. 10s, 500ms, 1m30s")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not total <= MAX_DURATION:
        raise _invalid(raw, "out of range (at most about 292 years)")
    return sign * total


def format_duration(seconds: float) -> str:
    """Format seconds compactly for humans: ``850µs``, ``12ms``, ``2.5ms``, ``1.25s``."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 0.01:
        return f"{seconds * 1e3:.1f}ms".replace(".0ms", "ms")
    if seconds < 1.0:
        return f"{seconds * 1e3:.0f}ms"
    if seconds < 60.0:
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + "s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{secs}s"  # Go's way: 1h0m0s


def _invalid(raw: str, why: str = "") -> ValueError:
    return ValueError(f"invalid duration {excerpt(raw, QUOTED)}" + (f": {why}" if why else ""))
