"""The behaviour suite's fixture: the same State on every backend (memory, SQLite, Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loadtester.settings import Settings
from loadtester.state.base import State
from loadtester.state.open import open_state
from tests.support.backends import BACKENDS, state_setting


@pytest.fixture(params=BACKENDS)
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[State]:
    """Stores of one backend, opened as the service opens them."""
    settings = Settings(state=state_setting(request.param, tmp_path, request), load_workers=1)
    async with open_state(settings) as opened:
        yield opened
