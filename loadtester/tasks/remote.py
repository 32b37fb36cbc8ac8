"""Answers of tasks that drive a remote test server (Concord, nGrinder)."""

from __future__ import annotations

BODY_CAP = 200


def trim(text: str) -> str:
    """A server's answer flattened to one short line for a failure reason."""
    flat = " ".join(text.split())
    return flat if len(flat) <= BODY_CAP else flat[:BODY_CAP] + "..."
