"""TLS connections as non-blocking ``ssl`` sockets driven by the event loop's readiness
callbacks (:func:`open_tls`), in place of the event loop's own TLS transport.

asyncio's and uvloop's TLS transports run OpenSSL over memory BIOs: every answer is read from
the socket into one buffer, copied into OpenSSL's input BIO, decrypted into a fresh 256 KiB
bytes object (an mmap, page faults and an munmap when the allocator hands it to the kernel)
and shrunk, and every request is encrypted into an output BIO and copied to the socket's write
path, each step a method of the transport. Here OpenSSL reads and writes the socket itself
(SSL_read and SSL_write on a socket BIO, as wrk does): one C call per read or write, no buffer
in between: 10-15 % less CPU per request than uvloop's transport in the same engine, 13 Python
calls per request instead of 15 (tests/loadgen/test_hot_path_cost.py). The protocol
(connection.Conn) sees an ordinary transport.

Kernel TLS: where the kernel offers the ``tls`` upper-layer protocol, the context asks OpenSSL
for it (SSL_OP_ENABLE_KTLS; Python 3.12 names it ssl.OP_ENABLE_KTLS), and OpenSSL falls back to
user-space TLS by itself for a cipher or protocol version the kernel does not handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any

__all__ = ["READ_SIZE", "TLSSocketTransport", "enable_ktls", "ktls_available", "open_tls"]

# one TLS record's plaintext at most (OpenSSL's SSL_read returns one record per call): a larger
# buffer would be allocated for every read and shrunk again
READ_SIZE = 16 * 1024 + 256
_OP_ENABLE_KTLS = 1 << 3  # SSL_OP_ENABLE_KTLS in OpenSSL 3
_ULP = "/proc/sys/net/ipv4/tcp_available_ulp"
_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


def ktls_available() -> bool:
    """Whether the kernel offers kernel TLS (the ``tls`` module is loaded)."""
    try:
        with open(_ULP, encoding="ascii") as handle:
            return "tls" in handle.read().split()
    except OSError:
        return False


def enable_ktls(context: ssl.SSLContext) -> bool:
    """Ask OpenSSL (3.0 or later) for kernel TLS where the kernel offers it; True if asked."""
    if ssl.OPENSSL_VERSION_INFO < (3, 0) or not ktls_available():
        return False
    context.options |= getattr(ssl, "OP_ENABLE_KTLS", _OP_ENABLE_KTLS)
    return True


async def open_tls(
    loop: asyncio.AbstractEventLoop,
    protocol: asyncio.Protocol,
    addr: tuple[str, int],
    context: ssl.SSLContext,
    server_name: str | None,
) -> TLSSocketTransport:
    """Connect to ``addr``, complete the TLS handshake, and hand ``protocol`` its transport
    (connection_made); OSError or ssl.SSLError if that fails."""
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    try:
        raw.setblocking(False)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(raw, addr)
        sock = context.wrap_socket(raw, server_hostname=server_name,
                                   do_handshake_on_connect=False)
    except BaseException:
        raw.close()
        raise
    try:
        await _handshake(loop, sock)
    except BaseException:
        sock.close()
        raise
    transport = TLSSocketTransport(loop, sock, protocol)
    protocol.connection_made(transport)  # type: ignore[arg-type]
    transport.start()
    return transport


async def _handshake(loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket) -> None:
    fd = sock.fileno()
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            await _ready(loop, fd, loop.add_reader, loop.remove_reader)
        except ssl.SSLWantWriteError:
            await _ready(loop, fd, loop.add_writer, loop.remove_writer)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int,
                 add: Callable[..., Any], remove: Callable[[int], Any]) -> None:
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    add(fd, wake)
    try:
        await waiter
    finally:
        remove(fd)


class TLSSocketTransport:
    """A transport over a connected non-blocking ssl.SSLSocket: reads when the socket is
    readable and hands the plaintext to the protocol; writes at once, and what the socket
    does not take yet when it is writable again."""

    __slots__ = ("_closed", "_fd", "_loop", "_obj", "_pending", "_protocol", "_read",
                 "_sock", "_write")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket,
                 protocol: asyncio.Protocol) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        # the C object under the SSLSocket: its read and write are one C call each, where
        # SSLSocket.recv and send go through three Python methods
        self._obj = sock._sslobj  # type: ignore[attr-defined]
        self._read: Callable[[int], bytes] = self._obj.read
        self._write: Callable[[bytes], int] = self._obj.write
        self._pending = b""  # what SSL_write could not send yet (retried as a whole)
        self._closed = False

    def start(self) -> None:
        """Start reading (after connection_made)."""
        if not self._closed:
            self._loop.add_reader(self._fd, self._readable)

    # -- the transport's side: called by the event loop ---------------------------------------
    def _readable(self) -> None:
        try:
            data = self._read(READ_SIZE)
        except _WANT:
            return
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            data = b""  # an end without close_notify too (SSLSocket's suppress_ragged_eofs)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self._lose(exc)
            return
        if data:
            self._protocol.data_received(data)
        else:
            self._protocol.eof_received()
            self._lose(None)

    def _writable(self) -> None:
        data, self._pending = self._pending, b""
        self._loop.remove_writer(self._fd)
        self.write(data)

    # -- the protocol's side -----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send ``data`` (buffered while the socket cannot take more)."""
        if self._closed:
            return
        if self._pending:
            self._pending += data
            return
        try:
            self._write(data)
        except ssl.SSLWantWriteError:
            self._pending = data  # SSL_write is retried with the same data in full
            self._loop.add_writer(self._fd, self._writable)
        except ssl.SSLWantReadError:  # a renegotiation waits for the peer
            self._pending = data
            self._loop.add_writer(self._fd, self._writable)
        except (OSError, ValueError) as exc:
            self._lose(exc)

    def close(self) -> None:
        """Close (a close_notify is sent if the socket takes it at once)."""
        if self._closed:
            return
        with contextlib.suppress(OSError, ValueError):
            self._obj.shutdown()
        self._lose(None)

    def abort(self) -> None:
        """Close at once."""
        self._lose(None)

    def is_closing(self) -> bool:
        return self._closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``ssl_object``, ``socket``, ``peername`` and ``sockname`` as asyncio gives them."""
        if name == "ssl_object":
            return self._sock
        if name == "socket":
            return self._sock
        if name in ("peername", "sockname"):
            try:
                return self._sock.getpeername() if name == "peername" else \
                    self._sock.getsockname()
            except OSError:
                return default
        return default

    def _lose(self, exc: Exception | None) -> None:
        """Stop watching the socket, close it, and tell the protocol (soon, as asyncio does)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._pending:
            self._loop.remove_writer(self._fd)
            self._pending = b""
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, exc)
