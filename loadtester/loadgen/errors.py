"""The load generator's two errors: a run that cannot be described, and a worker that failed."""

from __future__ import annotations

__all__ = ["LoadGenError", "LoadSpecError"]


class LoadSpecError(ValueError):
    """A load description that cannot be run; the message is one line naming the culprit."""


class LoadGenError(RuntimeError):
    """A worker process failed."""
