"""Pages of the canary list: the keyset a page ends at, and its form in the API.

Canaries are listed the last seen first (ties in each store's own order); a page is the next
`limit` canaries after a cursor, the (last_seen, namespace, name) of the last canary of the
page before. A canary seen for the first time while a client pages lands before every cursor,
so a walk returns each canary that existed when it started exactly once; a canary seen again
during the walk moves to the front too, and is listed by the next walk.

The API's cursor is `<last_seen: the 16 hex digits of its IEEE double>.<namespace>.<name>`
(a namespace holds no dot): exact, and described by one pattern (CURSOR_PATTERN, also in
openapi.yaml), so that every string of that pattern is a cursor, of a page possibly empty.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

CURSOR_PATTERN = r"^[0-9a-f]{16}\.[a-z0-9-]{0,63}\.[a-z0-9.-]{0,253}$"
_CURSOR = re.compile(CURSOR_PATTERN.removesuffix("$") + r"\Z")


class BadCursor(ValueError):
    """A string that is not of CURSOR_PATTERN."""


@dataclass(frozen=True)
class CanaryCursor:
    """Where a page of the canary list ends: the keys of its last canary."""

    last_seen: float
    namespace: str
    name: str

    def encode(self) -> str:
        """The cursor as the API hands it out."""
        bits = struct.pack(">d", self.last_seen).hex()
        return f"{bits}.{self.namespace}.{self.name}"

    @classmethod
    def decode(cls, value: str) -> CanaryCursor:
        """The cursor of a string of CURSOR_PATTERN; BadCursor for any other string."""
        if not _CURSOR.match(value):
            raise BadCursor("not a cursor of this service")
        bits, namespace, name = value.split(".", 2)
        (last_seen,) = struct.unpack(">d", bytes.fromhex(bits))
        if math.isnan(last_seen):  # no canary is ever after NaN: start over
            last_seen = math.inf
        return cls(last_seen, namespace, name)
