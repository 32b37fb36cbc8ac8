"""Text on its way to a chat tool: mentions neutralised, and cut to the tool's limit.

A cut is measured the way the tool counts (UTF-16 code units for the tools written in
JavaScript or counting as it does, UTF-8 bytes for payload limits), always falls between two
code points, never inside an HTML entity the sink wrote, and ends with a visible MARKER.
"""

from __future__ import annotations

import re
from typing import Literal

Unit = Literal["utf16", "bytes"]

MARKER = "… (truncated)"
# Shown as nothing, but a mention parser no longer sees `@all` or `<users/all>`.
ZERO_WIDTH_JOINER = "\u200d"
# A heading of any tool: Discord's embed title limit, ample for `name.namespace`.
TITLE_LIMIT = 256
# A fact (name, value) beside the message: Discord's embed field limits, the strictest.
FACT_NAME_LIMIT = 256
FACT_VALUE_LIMIT = 1024

_ENTITY_TAIL = re.compile(r"&#?[A-Za-z0-9]{0,8}$")
# `@name` where a mention parser looks for one (Rocket.Chat: after start, space, `>` or `_`);
# `user@host` is left alone.
_MENTION = re.compile(r"(?<![A-Za-z0-9])@(?=[\w.-])")


def size(text: str, unit: Unit = "utf16") -> int:
    """The length of text as a tool counts it."""
    if unit == "utf16":
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    return len(text.encode("utf-8", "surrogatepass"))


def cut(text: str, limit: int, unit: Unit = "utf16", *, entities: bool = False) -> str:
    """Text itself when it fits in limit, else its longest fitting prefix plus MARKER.

    With `entities`, an HTML entity (`&amp;`, `&#x27;`) that the cut would split is dropped
    whole, for text that was escaped before it was cut.
    """
    if size(text, unit) <= limit:
        return text
    budget = limit - size(MARKER, unit)
    if budget < 0:
        return ""
    low, high = 0, min(len(text), budget)  # every code point takes one unit at least
    while low < high:
        middle = (low + high + 1) // 2
        if size(text[:middle], unit) <= budget:
            low = middle
        else:
            high = middle - 1
    head = text[:low]
    if head and "\ud800" <= head[-1] <= "\udbff":
        head = head[:-1]  # half of a surrogate pair that arrived as two code points
    if entities:
        head = _ENTITY_TAIL.sub("", head)
    return head + MARKER


def neutralise_mentions(text: str) -> str:
    """`@all`, `@here`, `@someone` with a zero-width joiner after the `@`."""
    return _MENTION.sub("@" + ZERO_WIDTH_JOINER, text)


def neutralise_angles(text: str) -> str:
    """`<users/all>` and other `<...>` markup with a zero-width joiner after the `<`."""
    return text.replace("<", "<" + ZERO_WIDTH_JOINER)
