"""A run's TLS options (:class:`TLSOptions`): the CA bundle that verifies the server, a client
certificate for mTLS, and an SNI override, read and checked when the run is accepted.

The files are read once, where the run is accepted (the service under its file policy, the CLI
at start), and their PEM text travels with the LoadSpec to the worker processes: a worker never
opens a path the service did not check. Building the context (running/tlscontext.py) from that
text is the second check: a key that does not match its certificate fails there, also at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from loadtester.excerpt import cut, excerpt
from loadtester.loadgen.errors import LoadSpecError

if TYPE_CHECKING:
    from loadtester.loadgen.input.spec import LoadSpec

__all__ = [
    "MAX_PEM_FILE",
    "METADATA_KEYS",
    "METADATA_NAMES",
    "Names",
    "Reader",
    "TLSOptions",
    "check_server_name",
    "read_tls_files",
    "tls_from_metadata",
    "with_tls",
]

MAX_PEM_FILE = 1024 * 1024  # a CA bundle of a few hundred certificates fits
# what a file must hold to be read as PEM (OpenSSL would say less clearly, later)
_CERTIFICATE = re.compile(rb"-----BEGIN (TRUSTED )?CERTIFICATE-----")
_PRIVATE_KEY = re.compile(rb"-----BEGIN ((RSA|EC|DSA|ENCRYPTED) )?PRIVATE KEY-----")
_HOST_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,253}")


@dataclass(frozen=True, slots=True)
class Names:
    """How the options are called where they were given (in error messages)."""

    ca_file: str
    cert_file: str
    key_file: str
    server_name: str


METADATA_NAMES = Names("caFile", "tlsCert", "tlsKey", "serverName")


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """``ca_file``: verify the server against this CA bundle (none: no verification, like
    hey); ``cert_file``/``key_file``: the client certificate and its key (mTLS);
    ``server_name``: SNI and the name verified (none: the Host header's, else the URL's host).
    The ``*_pem`` fields hold the files' content once read_tls_files has read them."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    names: Names = METADATA_NAMES
    ca_pem: bytes = field(default=b"", repr=False)
    cert_pem: bytes = field(default=b"", repr=False)
    key_pem: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if self.key_file is not None and self.cert_file is None:
            raise LoadSpecError(f"{self.names.key_file} is given without {self.names.cert_file}")
        if self.server_name is not None:
            check_server_name(self.server_name, self.names.server_name)

    @property
    def verifies(self) -> bool:
        """Whether the server's certificate is verified."""
        return self.ca_file is not None

    @property
    def files(self) -> tuple[tuple[str, str], ...]:
        """(name as given, path) of each file to read."""
        named = ((self.names.ca_file, self.ca_file), (self.names.cert_file, self.cert_file),
                 (self.names.key_file, self.key_file))
        return tuple((name, path) for name, path in named if path is not None)


METADATA_KEYS = (METADATA_NAMES.ca_file, METADATA_NAMES.cert_file, METADATA_NAMES.key_file,
                 METADATA_NAMES.server_name)


def tls_from_metadata(metadata: Mapping[str, str]) -> TLSOptions | None:
    """``caFile``, ``tlsCert``, ``tlsKey`` and ``serverName`` (None when none is given); the
    files are not read yet."""
    ca, cert, key, name = (metadata.get(key, "").strip() or None for key in METADATA_KEYS)
    if ca is None and cert is None and key is None and name is None:
        return None
    return TLSOptions(ca_file=ca, cert_file=cert, key_file=key, server_name=name)


def with_tls(spec: LoadSpec, tls: TLSOptions | None) -> LoadSpec:
    """``spec`` with ``tls``, which needs at least one https:// target."""
    if tls is None:
        return spec
    targets = [e.tls for e in spec.mix.endpoints] if spec.mix is not None else [spec.is_https]
    if not any(targets):
        given = ", ".join(name for name, _ in tls.files) or tls.names.server_name
        raise LoadSpecError(f"{given}: TLS options need an https:// URL")
    return replace(spec, tls=tls)


def check_server_name(name: str, what: str) -> None:
    """A host name or IP address fit for SNI; LoadSpecError otherwise."""
    if not _HOST_NAME.fullmatch(name) or name.startswith((".", "-")):
        raise LoadSpecError(f"{what} {excerpt(name)} is not a host name")


Reader = Callable[[str], bytes]


def read_tls_files(tls: TLSOptions, read: Reader) -> TLSOptions:
    """The options with the PEM content of their files, read by ``read`` (which raises OSError
    or ValueError with a one-line reason; anything else passes through, such as the policy's
    refusal) and checked: LoadSpecError naming the option and the file otherwise
    (``tlsCert /x/y.pem: not a PEM file``)."""
    content: dict[str, bytes] = {}
    for name, path in tls.files:
        try:
            data = read(path)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            raise LoadSpecError(f"{name} {_shown(path)}: {reason}") from None
        content[name] = data
    names = tls.names
    ca = content.get(names.ca_file, b"")
    cert = content.get(names.cert_file, b"")
    key = content.get(names.key_file, b"")
    for name, data, pattern in ((names.ca_file, ca, _CERTIFICATE),
                                (names.cert_file, cert, _CERTIFICATE)):
        if name in content and not pattern.search(data):
            raise LoadSpecError(f"{name} {_shown(_path(tls, name))}: not a PEM file "
                                "(no certificate)")
    if tls.cert_file is not None:
        if tls.key_file is not None:
            _check_key(key, names.key_file, _path(tls, names.key_file))
        elif not _PRIVATE_KEY.search(cert):
            raise LoadSpecError(f"{names.cert_file} {_shown(tls.cert_file)} holds no private key "
                                f"(give {names.key_file})")
        else:
            _check_key(cert, names.cert_file, tls.cert_file)
    return replace(tls, ca_pem=ca, cert_pem=cert, key_pem=key)


def _check_key(data: bytes, name: str, path: str) -> None:
    found = _PRIVATE_KEY.search(data)
    if found is None:
        raise LoadSpecError(f"{name} {_shown(path)}: not a PEM file (no private key)")
    if b"ENCRYPTED" in found.group() or b"Proc-Type: 4,ENCRYPTED" in data:
        raise LoadSpecError(f"{name} {_shown(path)}: an encrypted key (give it without a "
                            "passphrase)")


def _shown(path: str) -> str:
    """A path as one printable line, unquoted (as FileRefused shows it)."""
    return cut(path if path.isprintable() else ascii(path))


def _path(tls: TLSOptions, name: str) -> str:
    return dict(tls.files)[name]
