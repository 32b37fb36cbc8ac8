"""The type of the `make_client` fixture: a test client of create_app() with settings overrides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
