"""Cutting text to a tool's limit and neutralising mentions, on their own."""

from __future__ import annotations

import json

import pytest

from loadtester.events.limits import MARKER, cut, neutralise_angles, neutralise_mentions, size
from loadtester.events.sink import fit_json


def test_text_that_fits_is_left_whole() -> None:
    """A text exactly at the limit is not cut and gets no marker."""
    assert cut("x" * 50, 50) == "x" * 50


def test_utf16_counts_a_character_outside_the_bmp_twice() -> None:
    """An emoji is two UTF-16 units; the cut keeps whole emoji only."""
    assert size("😀", "utf16") == 2
    assert cut("😀" * 10, size(MARKER) + 3) == "😀" + MARKER


def test_bytes_cut_between_characters() -> None:
    """A UTF-8 byte limit never leaves a partial multi-byte character."""
    result = cut("€" * 10, size(MARKER, "bytes") + 5, "bytes")
    assert result == "€" + MARKER
    assert size(result, "bytes") <= size(MARKER, "bytes") + 5


def test_an_entity_is_dropped_whole_rather_than_split() -> None:
    """With entities=True, `&amp;` cut after `&a` loses the whole entity."""
    assert cut("&amp;" * 10, size(MARKER) + 7, entities=True) == "&amp;" + MARKER


def test_a_surrogate_pair_is_never_split() -> None:
    """A pair that arrived as two code points is not cut between them."""
    assert cut("a\ud83d\ude00" + "b" * 20, size(MARKER) + 2) == "a" + MARKER


def test_a_limit_below_the_marker_gives_nothing() -> None:
    """No room even for the marker: an empty text, never one over the limit."""
    assert cut("x" * 100, 5) == ""


@pytest.mark.parametrize(("text", "expected"), [
    ("@all @here", "@\u200dall @\u200dhere"),
    ("(@bob) _@all", "(@\u200dbob) _@\u200dall"),
    ("mail ops@example.com", "mail ops@example.com"),
    ("a lone @ sign", "a lone @ sign"),
])
def test_mentions_get_a_zero_width_joiner(text: str, expected: str) -> None:
    """`@name` where a mention starts is broken up; addresses and a lone `@` are not."""
    assert neutralise_mentions(text) == expected


def test_angle_markup_gets_a_zero_width_joiner() -> None:
    """`<users/all>` no longer reads as Google Chat markup."""
    assert neutralise_angles("<users/all>") == "<\u200dusers/all>"


def test_fit_json_shrinks_the_text_until_the_body_fits() -> None:
    """fit_json cuts the text further until the whole JSON body is within the limit."""
    body = fit_json(lambda budget: {"text": cut("é" * 1000, budget, "bytes"), "k": "v" * 50},
                    300)
    assert len(body) <= 300
    assert json.loads(body)["text"].endswith(MARKER)
