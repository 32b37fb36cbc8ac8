"""Shared fixtures: settings on a temporary state directory, a client of the real app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from loadtester.app import create_app
from loadtester.logs import configure_logging
from loadtester.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(autouse=True, scope="session")
def _logging() -> None:
    configure_logging("debug", "console")


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings whose SQLite store lives in this test's temporary directory."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"state": str(tmp_path / "state"), "load_workers": 1}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def make_client(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> ClientFactory:
    """A test client of create_app() with the given settings overrides."""

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(create_app(make_settings(**overrides)))
        return client

    return make
