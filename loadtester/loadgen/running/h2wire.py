"""HTTP/2's wire format as the load engine needs it: pre-encoded requests (HPACK literals
without indexing, so a block can be sent again as is), connection set-up frames, and the
status of a response header block (hpack's decoder, behind a cache of blocks that leave the
dynamic table alone).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from hpack import Decoder, HPACKError

from loadtester.loadgen.errors import LoadSpecError

__all__ = ["PREFACE", "H2Request", "StatusDecoder", "frame", "h2_request", "settings_frame"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
MAX_WINDOW = 2**31 - 1
DEFAULT_FRAME_SIZE = 16_384
# SETTINGS identifiers
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = \
    1, 2, 3, 4, 5
CANCEL, REFUSED_STREAM = 0x8, 0x7
# hop-by-hop fields of HTTP/1.1 that HTTP/2 forbids (RFC 9113 8.2.2); Host becomes :authority
_DROPPED = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                      b"upgrade", b"host", b"te"})
_CACHE_LIMIT = 64
_STATIC_ENTRIES = 61
_MAX_PENDING = 128  # a 4 KiB table holds at most 128 entries (32 bytes of overhead each)


def frame(kind: int, flags: int, stream: int, payload: bytes | memoryview = b"") -> bytes:
    """One frame."""
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + \
        stream.to_bytes(4, "big") + payload


def settings_frame() -> bytes:
    """Our SETTINGS: no push, the largest stream window (answers never wait for a
    WINDOW_UPDATE), and a connection window opened as far."""
    payload = struct.pack(">HIHI", ENABLE_PUSH, 0, INITIAL_WINDOW_SIZE, MAX_WINDOW)
    return frame(SETTINGS, 0, 0, payload) + frame(
        WINDOW_UPDATE, 0, 0, (MAX_WINDOW - 65_535).to_bytes(4, "big"))


@dataclass(frozen=True, slots=True)
class H2Request:
    """A request as HTTP/2 sends it: the HEADERS frame's first five bytes (length, type,
    flags), then (after the stream id) its header block; and the body."""

    head: bytes
    block: bytes
    body: bytes


def h2_request(http1: bytes, tls: bool) -> H2Request:
    """The HTTP/2 form of a pre-built HTTP/1.1 request (spec.request_bytes, a scenario's
    request): the same method, target, fields and body."""
    head, _, body = http1.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    method, target, _ = lines[0].split(b" ", 2)
    fields: list[tuple[bytes, bytes]] = []
    authority = b""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"host":
            authority = value
        if name not in _DROPPED:
            fields.append((name, value))
    pseudo = [(b":method", method), (b":scheme", b"https" if tls else b"http"),
              (b":authority", authority), (b":path", target)]
    block = b"".join(_literal(name, value) for name, value in pseudo + fields)
    if len(block) > DEFAULT_FRAME_SIZE:
        raise LoadSpecError(f"request headers of {len(block)} bytes do not fit one HTTP/2 "
                            f"frame (at most {DEFAULT_FRAME_SIZE})")
    flags = END_HEADERS | (0 if body else END_STREAM)
    return H2Request(struct.pack(">I", len(block))[1:] + bytes((HEADERS, flags)), block, body)


def _literal(name: bytes, value: bytes) -> bytes:
    """A field as a literal without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    return b"\x00" + _integer(len(name), 7) + name + _integer(len(value), 7) + value


def _integer(value: int, bits: int) -> bytes:
    """HPACK's integer with a ``bits``-bit prefix (RFC 7541 5.1), first byte's flags 0."""
    top = (1 << bits) - 1
    if value < top:
        return bytes((value,))
    out = bytearray((top,))
    value -= top
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


class StatusDecoder:
    """The :status of response header blocks, through one HPACK decoder (the connection's
    dynamic table). A server answering alike sends the same bytes again (nginx inserts its
    fields into the table each time, and never refers to them): a block whose meaning does
    not depend on the table is decoded once, and seen again it only adds its entries to the
    table, lazily (the last MAX_PENDING, which is all a 4 KiB table can hold)."""

    __slots__ = ("cache", "decoder", "pending")

    def __init__(self) -> None:
        self.decoder = Decoder()
        self.decoder.max_header_list_size = 1 << 20
        self.cache: dict[bytes, tuple[int, tuple[tuple[bytes, bytes], ...]]] = {}
        self.pending: deque[tuple[bytes, bytes]] = deque(maxlen=_MAX_PENDING)

    def status(self, block: bytes) -> int:
        """The block's :status (0 when it has none); ValueError for a bad block."""
        cached = self.cache.get(block)
        if cached is not None:
            if cached[1]:
                self.pending.extend(cached[1])
            return cached[0]
        table = self.decoder.header_table
        for name, value in self.pending:
            table.add(name, value)
        self.pending.clear()
        inserts = _inserts(block)
        try:
            fields = self.decoder.decode(block, raw=True)
        except HPACKError as exc:
            raise ValueError(str(exc)) from None
        status = 0
        for name, value in fields:
            if name == b":status":
                status = int(value) if value.isdigit() and len(value) == 3 else 0
                break
        entries = table.dynamic_entries
        if inserts is not None and inserts <= len(entries):
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            added = tuple(reversed([entries[k] for k in range(inserts)]))
            self.cache[block] = (status, added)
        return status


def _inserts(block: bytes) -> int | None:
    """How many entries ``block`` adds to the dynamic table; None when what it means
    depends on the table (it refers to an entry of it, or resizes it) or it is malformed."""
    i, end, count = 0, len(block), 0
    try:
        while i < end:
            first = block[i]
            if first & 0x80:  # an indexed field
                index, i = _read_int(block, i, 7)
            elif first & 0x40:  # a literal added to the table
                index, i = _read_int(block, i, 6)
                count += 1
            elif first & 0x20:  # a table size update
                return None
            else:  # a literal not added
                index, i = _read_int(block, i, 4)
            if index > _STATIC_ENTRIES:
                return None
            if not first & 0x80:
                if index == 0:
                    i = _skip_string(block, i)
                i = _skip_string(block, i)
    except IndexError:
        return None
    return count if i == end else None


def _read_int(block: bytes, i: int, bits: int) -> tuple[int, int]:
    """An HPACK integer with a ``bits``-bit prefix at ``i``, and the index after it."""
    top = (1 << bits) - 1
    value = block[i] & top
    i += 1
    if value < top:
        return value, i
    shift = 0
    while True:
        byte = block[i]
        i += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i
        if shift > 28:
            raise IndexError("integer too long")


def _skip_string(block: bytes, i: int) -> int:
    """The index after the string literal at ``i``."""
    length, i = _read_int(block, i, 7)
    if i + length > len(block):
        raise IndexError("string past the block")
    return i + length
