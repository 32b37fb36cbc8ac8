"""Metadata and answers of tasks that drive a remote test server (Concord, nGrinder)."""

from __future__ import annotations

from yarl import URL

from loadtester.errors import BadRequest
from loadtester.logs import redact

BODY_CAP = 200


def required(metadata: dict[str, str], key: str, kind: str) -> str:
    """A metadata value that must be present and not blank, in the Go service's words."""
    value = metadata.get(key, "")
    if not value.strip():
        raise BadRequest(f"`{key}` is required with type {kind}")
    return value


def server_url(raw: str) -> str:
    """The `server` metadata as a base URL without a trailing slash."""
    text = raw.strip()
    try:
        url = URL(text)
    except ValueError:
        url = URL()
    if url.scheme not in ("http", "https") or not url.host:
        raise BadRequest(f"`server` must be an http(s) URL, got {redact(text)!r}")
    return text.rstrip("/")


def trim(text: str) -> str:
    """A server's answer flattened to one short line for a failure reason."""
    flat = " ".join(text.split())
    return flat if len(flat) <= BODY_CAP else flat[:BODY_CAP] + "..."
