"""SessionRevocations behaviour, the same on every backend."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from loadtester.settings import Settings
from loadtester.state.base import State
from loadtester.state.open import open_state
from tests.support.backends import state_setting


async def test_revoked_session_is_refused_until_it_expires(state: State) -> None:
    """A revoked id is revoked; another id is not; a revocation ends at its `until`."""
    assert not await state.revocations.is_revoked("a" * 64)
    await state.revocations.revoke("a" * 64, time.time() + 3600)
    await state.revocations.revoke("b" * 64, time.time() + 0.2)
    assert await state.revocations.is_revoked("a" * 64)
    assert await state.revocations.is_revoked("b" * 64)
    assert not await state.revocations.is_revoked("c" * 64)
    for _ in range(100):
        if not await state.revocations.is_revoked("b" * 64):
            break
        await asyncio.sleep(0.05)
    assert not await state.revocations.is_revoked("b" * 64)
    assert await state.revocations.is_revoked("a" * 64)


async def test_revocation_in_the_past_revokes_nothing(state: State) -> None:
    """Revoking a session that has already expired leaves nothing to refuse."""
    await state.revocations.revoke("d" * 64, time.time() - 1)
    assert not await state.revocations.is_revoked("d" * 64)


async def test_revoking_twice_keeps_the_session_revoked(state: State) -> None:
    """A second logout of the same session (another tab) keeps it revoked."""
    until = time.time() + 3600
    await state.revocations.revoke("e" * 64, until)
    await state.revocations.revoke("e" * 64, until)
    assert await state.revocations.is_revoked("e" * 64)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_every_replica_sees_a_revocation(backend: str, tmp_path: Path,
                                               request: pytest.FixtureRequest) -> None:
    """A session revoked through one replica's store is refused by another's on the same
    SQLite file or Redis."""
    settings = Settings(state=state_setting(backend, tmp_path, request), load_workers=1)
    async with open_state(settings) as first, open_state(settings) as second:
        assert not await second.revocations.is_revoked("f" * 64)
        await first.revocations.revoke("f" * 64, time.time() + 3600)
        assert await second.revocations.is_revoked("f" * 64)
