"""TaskLedger behaviour, the same on every backend: leases, renewals, failures, revocation."""

from __future__ import annotations

import asyncio

from loadtester.state.base import Failure, State


async def test_one_claim_at_a_time(state: State) -> None:
    """A held lease cannot be claimed by another owner; after release it can."""
    ledger = state.tasks
    assert await ledger.claim("podinfo.test/hey", "podinfo.test", "a", 10)
    assert not await ledger.claim("podinfo.test/hey", "podinfo.test", "b", 10)
    assert not await ledger.claim("podinfo.test/hey", "podinfo.test", "a", 10)
    await ledger.release("podinfo.test/hey", "a", None)
    assert await ledger.claim("podinfo.test/hey", "podinfo.test", "b", 10)


async def test_lease_lapses_unless_renewed(state: State) -> None:
    """An owner that stops renewing loses the lease after its ttl; a renewed one keeps it."""
    ledger = state.tasks
    assert await ledger.claim("k1", "c.test", "a", 0.3)
    assert await ledger.claim("k2", "c.test", "a", 0.3)
    await asyncio.sleep(0.2)
    assert await ledger.renew(["k2"], "a", 0.3) == set()
    await asyncio.sleep(0.2)
    assert await ledger.claim("k1", "c.test", "b", 10)
    assert not await ledger.claim("k2", "c.test", "b", 10)
    assert await ledger.renew(["k1", "k2"], "a", 10) == {"k1"}


async def test_release_by_another_owner_keeps_the_lease(state: State) -> None:
    """Only the holder's release drops a lease."""
    ledger = state.tasks
    assert await ledger.claim("k", "c.test", "a", 10)
    await ledger.release("k", "b", None)
    assert not await ledger.claim("k", "c.test", "b", 10)


async def test_failure_is_handed_out_once(state: State) -> None:
    """A failure kept at release is taken exactly once, even by two takers at the same time."""
    ledger = state.tasks
    assert await ledger.take_failure("k") is None
    await ledger.claim("k", "c.test", "a", 10)
    await ledger.release("k", "a", Failure("exit status 1", "abc"))
    taken = await asyncio.gather(ledger.take_failure("k"), ledger.take_failure("k"))
    assert sorted(taken, key=lambda f: f is None) == [Failure("exit status 1", "abc"), None]


async def test_revoke_drops_every_lease_of_a_canary(state: State) -> None:
    """revoke() ends the leases of one canary only; their owners learn it at renewal."""
    ledger = state.tasks
    await ledger.claim("a.test/one", "a.test", "r1", 10)
    await ledger.claim("a.test/two", "a.test", "r2", 10)
    await ledger.claim("b.test/one", "b.test", "r1", 10)
    assert await ledger.revoke("a.test") == 2
    assert await ledger.renew(["a.test/one", "b.test/one"], "r1", 10) == {"a.test/one"}
    assert await ledger.claim("a.test/two", "a.test", "r3", 10)
    assert await ledger.revoke("nothing.test") == 0


async def test_cancel_drops_one_lease(state: State) -> None:
    """cancel() ends one lease only: its owner's renewal reports it lost, the others hold."""
    ledger = state.tasks
    await ledger.claim("a.test/one", "a.test", "r1", 10)
    await ledger.claim("a.test/two", "a.test", "r1", 10)
    assert await ledger.cancel("a.test/one")
    assert await ledger.renew(["a.test/one", "a.test/two"], "r1", 10) == {"a.test/one"}
    assert not await ledger.cancel("a.test/one")
    assert not await ledger.cancel("nothing.test/x")
    assert await ledger.claim("a.test/one", "a.test", "r2", 10)
    assert await ledger.revoke("a.test") == 2
