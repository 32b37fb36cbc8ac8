# cython: wraparound=False
"""The head of an HTTP/1.x answer, read by the generator itself when it is a common one.

A connection reads its answers' heads here and counts their bodies by their Content-Length,
without httptools' parse and its Python callbacks per answer (with the comparison below, half
of a plain request's instructions in the compiled build). A head this does not read
(incomplete in one read, chunked, a body that ends with the connection, 1xx, an upgrade,
anything malformed) is left to httptools, which then reads the connection to its end: the
answer's verdict stays httptools' (llhttp's, strict).
A server's answers mostly repeat their heads byte for byte (nginx's change with its Date, once
a second): a head equal to the last one read is known by one comparison (memcmp), one equal to
any of the KNOWN distinct heads read before by a few. Several, not one: a mix's requests each
have their answer's head, and which follow which on a connection is up to the scheduling
(knowing the last head only, a 3-request mix cost 6 100 to 7 700 instructions per request
from one run to the next).

Connections read heads here in the compiled build only (READS_HEADS): run as Python, the byte
loops below cost more than httptools' C (a plain run on the sources: 105k requests per second
with httptools, 35-40k with these loops). Tests call ResponseHead in either build.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES

__all__ = ["KNOWN", "READS_HEADS", "ResponseHead"]

READS_HEADS = __file__.endswith(tuple(EXTENSION_SUFFIXES))  # this module runs compiled

# byte classes: RFC 9110 tchar (a header name), and a field value's bytes (VCHAR, obs-text,
# SP, HTAB: what llhttp accepts there)
_NAME = 1
_VALUE = 2
_CLASS = bytes(
    (_NAME if (c < 128 and chr(c).isalnum()) or chr(c) in "!#$%&'*+-.^_`|~" else 0)
    | (_VALUE if (c > 32 and c != 127) or c in (9, 32) else 0)
    for c in range(256)
)
_LONGEST_LENGTH = 18  # Content-Length digits: beyond this, httptools says what it is
KNOWN = 8  # heads a ResponseHead knows again by comparison, the latest first


def _named(raw: bytes, at: int, name: bytes) -> bool:
    """Whether the header name at ``raw[at:]`` (as long as ``name``) is the lowercase ``name``
    in any case (``| 0x20`` lowercases a letter and keeps every other tchar)."""
    for c in name:
        if raw[at] | 0x20 != c:
            return False
        at += 1
    return True


class KnownHead:
    """A head read before, byte for byte, and what ResponseHead read of it."""

    __slots__ = ("keep", "length", "raw", "status")

    def __init__(self, raw: bytes, status: int, length: int, keep: bool) -> None:
        self.raw = raw
        self.status = status
        self.length = length
        self.keep = keep


class ResponseHead:
    """What the generator needs of an answer's head: the status, the body's length and whether
    the connection is kept alive after it (llhttp's should_keep_alive)."""

    __slots__ = ("keep", "known", "length", "seen", "status")

    def __init__(self) -> None:
        self.status = 0
        self.length = 0  # body bytes after the head
        self.keep = False
        self.seen = b""  # the last head read, byte for byte (the figures above are its)
        self.known: list[KnownHead] = []  # the last KNOWN distinct heads read, the latest first

    def parse(self, data: bytes, start: int, end: int) -> int:
        """Read the head that begins at ``data[start]``, within ``data[:end]``: the index just
        after it, or -1 when it is incomplete there or not one this reads (then httptools)."""
        # raw is a C pointer in the compiled build, without bounds checks: every index below is
        # checked against end, and end against the length of data, first
        raw = data
        kind = _CLASS
        i = start
        if end > len(data) or end - i < 16:  # (16: "HTTP/1.1 200\r\n\r\n")
            return -1
        # ("seen and": where seen is not empty, it only makes Cython 3.3 pass start and end to
        # its C startswith as C integers; alone, startswith has them boxed as Python ints)
        seen = self.seen
        if seen and data.startswith(seen, start, end):  # the last head again: its figures
            return start + len(seen)
        for known in self.known:  # another one read before
            seen = known.raw
            if seen and data.startswith(seen, start, end):
                self.status = known.status
                self.length = known.length
                self.keep = known.keep
                self.seen = seen
                return start + len(seen)
        if raw[i] != 72 or raw[i + 1] != 84 or raw[i + 2] != 84 or raw[i + 3] != 80:  # HTTP
            return -1
        if raw[i + 4] != 47 or raw[i + 5] != 49 or raw[i + 6] != 46:  # /1.
            return -1
        minor = raw[i + 7] - 48
        if minor < 0 or minor > 1 or raw[i + 8] != 32:
            return -1
        status = 0
        i = start + 9
        while i < start + 12:
            c = raw[i] - 48
            if c < 0 or c > 9:
                return -1
            status = status * 10 + c
            i += 1
        if status < 200:  # 1xx: more heads follow
            return -1
        if raw[i] == 32:  # the reason phrase
            i += 1
            while i < end and kind[raw[i]] & _VALUE:
                i += 1
        length = -1
        close = keep_alive = False
        while True:
            if i + 3 >= end or raw[i] != 13 or raw[i + 1] != 10:
                return -1  # each line ends with CRLF; a blank line ends the head
            i += 2
            if raw[i] == 13:
                if raw[i + 1] != 10:
                    return -1
                i += 2
                break
            name = i
            while i < end and kind[raw[i]] & _NAME:
                i += 1
            size = i - name
            if size == 0 or i >= end or raw[i] != 58:  # ':'
                return -1
            i += 1
            while i < end and (raw[i] == 32 or raw[i] == 9):
                i += 1
            value = i
            while i < end and kind[raw[i]] & _VALUE:
                i += 1
            last = i
            while last > value and (raw[last - 1] == 32 or raw[last - 1] == 9):
                last -= 1
            if size == 14 and _named(raw, name, b"content-length"):
                if length >= 0 or last == value or last - value > _LONGEST_LENGTH:
                    return -1  # twice, empty or huge: httptools' verdict
                length = 0
                while value < last:
                    c = raw[value] - 48
                    if c < 0 or c > 9:
                        return -1
                    length = length * 10 + c
                    value += 1
            elif size == 17 and _named(raw, name, b"transfer-encoding"):
                return -1
            elif size == 10 and _named(raw, name, b"connection"):
                while value < last:  # comma-separated tokens
                    token = value
                    while value < last and raw[value] != 44:
                        value += 1
                    tail = value
                    value += 1
                    while tail > token and (raw[tail - 1] == 32 or raw[tail - 1] == 9):
                        tail -= 1
                    while token < tail and (raw[token] == 32 or raw[token] == 9):
                        token += 1
                    if tail - token == 5 and _named(raw, token, b"close"):
                        close = True
                    elif tail - token == 10 and _named(raw, token, b"keep-alive"):
                        keep_alive = True
                    elif tail - token == 7 and _named(raw, token, b"upgrade"):
                        return -1
        if status == 204 or status == 304:
            length = 0  # no body, whatever Content-Length says
        elif length < 0:  # a body that ends with the connection
            return -1
        self.status = status
        self.length = length
        self.keep = not close if minor == 1 else keep_alive
        self.seen = data[start:i]
        self.known.insert(0, KnownHead(self.seen, status, length, self.keep))
        if len(self.known) > KNOWN:
            self.known.pop()
        return i
