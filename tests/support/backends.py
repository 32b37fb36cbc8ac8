"""The state backends every behaviour test runs on, and the -state value that selects one."""

from __future__ import annotations

from pathlib import Path

import pytest

BACKENDS = ("memory", "sqlite", "redis", "redis-sentinel", "redis-cluster")


def state_setting(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The -state value that selects `backend` for this test."""
    if backend == "redis":
        return str(request.getfixturevalue("redis_url"))
    if backend == "redis-sentinel":
        return str(request.getfixturevalue("redis_sentinel_url"))
    if backend == "redis-cluster":
        return str(request.getfixturevalue("redis_cluster_url"))
    return "memory" if backend == "memory" else str(tmp_path / "state")
