"""The per-day budget of new canaries (CanaryAdmission), on every backend."""

from __future__ import annotations

import asyncio

from loadtester.state.base import State

DAY = 20_000


async def test_admits_up_to_the_limit_then_only_those_admitted(state: State) -> None:
    """With limit 3 the 4th distinct canary is refused; the first 3 stay admitted."""
    admit = state.admission.admit
    assert [await admit("team", f"app-{n}", "team-a", DAY, 3) for n in range(4)] == [
        True, True, True, False]
    assert await admit("team", "app-0", "team-a", DAY, 3)
    assert await admit("team", "app-2", "team-a", DAY, 3)
    assert not await admit("team", "app-3", "team-a", DAY, 3)


async def test_budget_is_per_account_day_and_canary(state: State) -> None:
    """Another account, another day, and the same name in another namespace count apart."""
    admit = state.admission.admit
    assert await admit("team", "podinfo", "team-a", DAY, 1)
    assert not await admit("team", "podinfo", "team-b", DAY, 1)
    assert await admit("other", "podinfo", "team-b", DAY, 1)
    assert await admit("team", "podinfo", "team-b", DAY + 1, 1)


async def test_concurrent_admissions_never_pass_the_limit(state: State) -> None:
    """50 new canaries asked for at once under limit 10: exactly 10 admitted."""
    answers = await asyncio.gather(*(state.admission.admit("team", f"app-{n}", "ns", DAY, 10)
                                     for n in range(50)))
    assert answers.count(True) == 10


async def test_prune_forgets_days_before_yesterday(state: State) -> None:
    """After prune(day), the lists of day - 1 remain and older ones are forgotten (Redis:
    they expire by themselves, so pruning changes nothing there but must not fail)."""
    admit = state.admission.admit
    assert await admit("team", "old", "ns", DAY - 2, 1)
    assert await admit("team", "recent", "ns", DAY - 1, 1)
    await state.admission.prune(DAY)
    assert not await admit("team", "other", "ns", DAY - 1, 1)
    if state.kind != "redis":
        assert await admit("team", "other", "ns", DAY - 2, 1)
