"""Pages of the canary list (CanaryHistory.canary_page), on every backend."""

from __future__ import annotations

import pytest

from loadtester.state.base import CanaryRecord, Sighting, State
from loadtester.state.pages import BadCursor, CanaryCursor

NOW = 1_700_000_000.0


async def _add(state: State, name: str, namespace: str, at: float) -> None:
    await state.history.seen(Sighting(name, namespace, "Progressing", "abc", "gate", at))


def _cursor(record: CanaryRecord) -> CanaryCursor:
    return CanaryCursor(record.last_seen, record.namespace, record.name)


async def _walk(state: State, limit: int, namespaces: frozenset[str] | None = None,
                between_pages: int = 0) -> list[tuple[str, str]]:
    """Every page from the first to the last; `between_pages` new canaries after each page."""
    walked: list[tuple[str, str]] = []
    after = None
    pages = 0
    while True:
        page = await state.history.canary_page(0, limit, after, namespaces)
        assert len(page) <= limit
        walked += [(record.namespace, record.name) for record in page]
        if len(page) < limit:
            return walked
        after = _cursor(page[-1])
        pages += 1
        for extra in range(between_pages):
            await _add(state, f"new-{pages}-{extra}", "team-a", NOW + 10_000 + pages)


async def test_walk_lists_each_canary_once_in_list_order(state: State) -> None:
    """Pages of 7 over 40 canaries (some seen at the same instant) give canaries() in order."""
    for number in range(40):
        await _add(state, f"app-{number:02d}", f"team-{'abc'[number % 3]}", NOW + number // 4)
    expected = [(record.namespace, record.name) for record in await state.history.canaries(0)]
    assert len(expected) == 40
    assert await _walk(state, 7) == expected
    assert await _walk(state, 40) == expected
    assert await _walk(state, 1) == expected


async def test_walk_is_stable_while_canaries_are_added(state: State) -> None:
    """Canaries added between pages do not shift the walk: each earlier one comes once."""
    for number in range(25):
        await _add(state, f"app-{number:02d}", "team-a", NOW + number)
    expected = [(record.namespace, record.name) for record in await state.history.canaries(0)]
    assert await _walk(state, 4, between_pages=3) == expected
    assert len(await state.history.canaries(0)) == 25 + 3 * 6


async def test_page_of_namespaces_and_since(state: State) -> None:
    """A page holds only the namespaces asked for, and only canaries seen since `since`."""
    for number in range(30):
        await _add(state, f"app-{number:02d}", f"team-{'ab'[number % 2]}", NOW + number)
    team_b = [(record.namespace, record.name) for record in await state.history.canaries(0)
              if record.namespace == "team-b"]
    assert await _walk(state, 4, frozenset({"team-b"})) == team_b
    assert len(await _walk(state, 4, frozenset({"team-a", "team-b"}))) == 30
    assert await state.history.canary_page(0, 5, None, frozenset({"team-c"})) == []
    assert await state.history.canary_page(0, 5, None, frozenset()) == []
    recent = await state.history.canary_page(NOW + 27, 10)
    assert [record.name for record in recent] == ["app-29", "app-28", "app-27"]


async def test_page_holds_whole_records(state: State) -> None:
    """A page's records equal canary()'s, the first page starts with the last seen."""
    await _add(state, "old", "team-a", NOW)
    await _add(state, "new", "team-a", NOW + 5)
    page = await state.history.canary_page(0, 1)
    assert page == [await state.history.canary("new", "team-a")]
    rest = await state.history.canary_page(0, 5, _cursor(page[0]))
    assert rest == [await state.history.canary("old", "team-a")]


async def test_cursor_past_the_end_and_before_the_start(state: State) -> None:
    """A cursor after every canary gives an empty page; one at +inf gives the first page."""
    await _add(state, "podinfo", "test", NOW)
    assert await state.history.canary_page(0, 5, CanaryCursor(NOW - 1, "", "")) == []
    first = await state.history.canary_page(0, 5, CanaryCursor(float("inf"), "", ""))
    assert [record.name for record in first] == ["podinfo"]


def test_cursor_round_trips_and_refuses_strangers() -> None:
    """encode/decode round-trip exactly; a string of another shape is a BadCursor."""
    cursor = CanaryCursor(NOW + 0.1234567, "team-a", "pod.info")
    assert CanaryCursor.decode(cursor.encode()) == cursor
    for bad in ("", "x", "0" * 16, f"{'0' * 16}.A.b", f"{'0' * 15}.a.b", "0" * 16 + ".a.b\n"):
        with pytest.raises(BadCursor):
            CanaryCursor.decode(bad)
