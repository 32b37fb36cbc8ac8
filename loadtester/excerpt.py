"""Caller input quoted in an error (its body, and the log line that carries it): at most
200 characters of it, so that a megabyte of input does not come back as a megabyte of answer."""

from __future__ import annotations

import reprlib

__all__ = ["EXCERPT_LIMIT", "cut", "excerpt"]

EXCERPT_LIMIT = 200

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = EXCERPT_LIMIT
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 20


def excerpt(value: object, limit: int = EXCERPT_LIMIT) -> str:
    """``repr(value)`` when short; else its first ``limit`` characters and ``...``, found
    without building the whole repr of a long string or a large list."""
    text = repr(value[:limit + 1]) if isinstance(value, str) else _REPR.repr(value)
    if len(text) > limit or (isinstance(value, str) and len(value) > limit):
        return text[:limit] + "..."
    return text


def cut(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """``text`` as it is (unquoted, as the Go service writes it), cut after ``limit``
    characters with ``...``."""
    return text if len(text) <= limit else text[:limit] + "..."
