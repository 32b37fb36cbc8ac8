"""Regexps that match as Go's `regexp.MatchString` does, on Python's `re`."""

from __future__ import annotations

import re

# an inline flag group that turns on multi-line mode: (?m), (?im), (?m:...), (?sm-i)
_MULTILINE_FLAG = re.compile(r"\(\?[a-zA-Z]*m[a-zA-Z-]*[:)]")


def to_python(pattern: str) -> str:
    """The pattern with Go's meaning of `$` (end of text) and `\\z` kept in Python's syntax.

    Python's `$` also matches before a trailing newline, so `^team-a$` would accept "team-a\\n";
    Go's does not. An unescaped `$` outside a character class becomes `\\Z`, unless the pattern
    turns on multi-line mode, where both mean end of line.
    """
    multiline = _MULTILINE_FLAG.search(pattern) is not None
    out: list[str] = []
    position, in_class, class_start = 0, False, 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\" and position + 1 < len(pattern):
            escaped = pattern[position + 1]
            out.append(r"\Z" if escaped == "z" and not in_class else char + escaped)
            position += 2
            continue
        if in_class:
            # a `]` right after `[` or `[^` is a literal member, not the end of the class
            if char == "]" and position > class_start:
                in_class = False
        elif char == "[":
            in_class = True
            class_start = position + 1
            if pattern.startswith("^", class_start):
                class_start += 1
        elif char == "$" and not multiline:
            char = r"\Z"
        out.append(char)
        position += 1
    return "".join(out)


def compile_go(pattern: str) -> re.Pattern[str]:
    """Compile a Go regexp for unanchored search (`pattern.search(text)` is MatchString)."""
    try:
        return re.compile(to_python(pattern))
    except re.error:
        # the translation only swaps zero-width anchors; let re explain the original's error
        return re.compile(pattern)
