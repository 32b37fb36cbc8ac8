"""The client SSLContext of a run, from its TLS options (input/tlsoptions.py), and the server
name a connection asks for.

Without a CA bundle the server is not verified (hey's and Go's ``InsecureSkipVerify``).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from urllib.parse import urlsplit

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.tlsoptions import Reader, TLSOptions, read_tls_files
from loadtester.loadgen.running.tlssocket import enable_ktls

__all__ = ["client_context", "read_checked", "server_name"]


def client_context(tls: TLSOptions | None) -> ssl.SSLContext:
    """A client context for ``tls`` (None: unverified, no client certificate); LoadSpecError
    naming the option when OpenSSL refuses its content."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    enable_ktls(context)  # where the kernel offers it (tlssocket.py)
    if tls is None or not tls.verifies:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls is None:
        return context
    names = tls.names
    if tls.ca_file is not None:
        try:
            context.load_verify_locations(cadata=tls.ca_pem.decode("ascii", "replace"))
        except ssl.SSLError as exc:
            raise LoadSpecError(f"{names.ca_file} {tls.ca_file}: not a valid CA bundle "
                                f"({_reason(exc)})") from None
    if tls.cert_file is not None:
        with _as_file(tls.cert_pem) as cert, _as_file(tls.key_pem or None) as key:
            assert cert is not None
            try:
                context.load_cert_chain(cert, key, password=_no_password)
            except ssl.SSLError as exc:
                raise LoadSpecError(_chain_error(tls, exc)) from None
    return context


def server_name(tls: TLSOptions | None, host_header: str | None, host: str) -> str:
    """The name sent in SNI (and verified): the option, else the Host header's host (as Go
    does), else the URL's host."""
    if tls is not None and tls.server_name:
        return tls.server_name
    if host_header:
        return urlsplit(f"//{host_header}").hostname or host
    return host


def _no_password() -> bytes:
    """Never prompt on a terminal for a key's passphrase (encrypted keys are refused)."""
    return b""


def _reason(exc: ssl.SSLError) -> str:
    return (exc.reason or str(exc)).lower().replace("_", " ")


def _chain_error(tls: TLSOptions, exc: ssl.SSLError) -> str:
    names = tls.names
    reason = exc.reason or ""
    if reason == "KEY_VALUES_MISMATCH":
        return (f"{names.key_file} {tls.key_file}: does not match {names.cert_file} "
                f"{tls.cert_file}")
    if "KEY" in reason or "DECRYPT" in reason:
        name, path = ((names.key_file, tls.key_file) if tls.key_file is not None
                      else (names.cert_file, tls.cert_file))
        return f"{name} {path}: not a valid private key ({_reason(exc)})"
    return f"{names.cert_file} {tls.cert_file}: not a valid certificate ({_reason(exc)})"


@contextlib.contextmanager
def _as_file(data: bytes | None) -> Iterator[str | None]:
    """``data`` as a path OpenSSL can read (load_cert_chain takes paths only): an anonymous
    memory file where Linux has them, else a private temporary file removed at once."""
    if data is None:
        yield None
        return
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("loadtester-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="loadtester-tls-") as folder:
        path = os.path.join(folder, "pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield path


def read_checked(tls: TLSOptions, read: Reader) -> TLSOptions:
    """``tls`` with its files read by ``read`` and checked, by their text and then by OpenSSL
    (a key that does not match its certificate): LoadSpecError naming the option and the file
    otherwise. Called where a run is accepted, so a bad file never reaches a worker."""
    loaded = read_tls_files(tls, read)
    client_context(loaded)
    return loaded
