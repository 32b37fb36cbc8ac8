"""Go duration parsing and human formatting."""

from __future__ import annotations

import pytest

from loadtester.durations import format_duration, parse_go_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1h2m3.5s", 3723.5),
        ("1.5h", 5400.0),
        ("300us", 0.0003),
        ("300µs", 0.0003),
        ("250ns", 2.5e-7),
        ("0", 0.0),
        ("-2s", -2.0),
        (" 2m ", 120.0),
    ],
)
def test_parses_go_syntax(text: str, seconds: float) -> None:
    """Every unit of Go's time.ParseDuration, compound forms and a sign are understood."""
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "1x", "s", "1.2.3s", "10 s", "m1"])
def test_rejects_bad_durations_in_one_line(text: str) -> None:
    """Anything else is a ValueError whose single-line message quotes the input."""
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_go_duration(text)
    assert "\n" not in str(info.value)


def test_formats_for_humans() -> None:
    """Durations print as µs, ms or s with few digits."""
    assert format_duration(0.0005) == "500µs"
    assert format_duration(0.0025) == "2.5ms"
    assert format_duration(0.812) == "812ms"
    assert format_duration(1.25) == "1.25s"
    assert format_duration(95) == "1m35s"
