"""Throw-away certificates made with the openssl CLI: a CA, and certificates it signs for a
server (``localhost``, ``127.0.0.1``) or a client."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Pair:
    """A PEM certificate and its unencrypted key."""

    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _new_key(key: Path) -> tuple[str, ...]:
    return ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key))


def make_ca(folder: Path, name: str) -> Pair:
    """A self-signed CA called ``name`` in ``folder``."""
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    _openssl("req", "-x509", *_new_key(pair.key), "-days", "1", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(pair.cert))
    return pair


def make_signed(folder: Path, name: str, ca: Pair, client: bool = False,
                san: str = "DNS:localhost,IP:127.0.0.1") -> Pair:
    """A certificate for a server (names in ``san``) or a ``client``, signed by ``ca``."""
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    csr = folder / f"{name}.csr"
    ext = folder / f"{name}.ext"
    usage = "clientAuth" if client else "serverAuth"
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
    _openssl("req", *_new_key(pair.key), "-subj", f"/CN={name}", "-out", str(csr))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(pair.cert))
    return pair
