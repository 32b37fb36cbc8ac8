"""Store keys: no two canaries, and no two kinds of state, share one, on any backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import example, given
from hypothesis import strategies as st

from loadtester.event import Event
from loadtester.models import WebhookPayload
from loadtester.state.base import GateChange, State
from loadtester.state.store_keys import (
    canary_id,
    from_legacy_gate,
    gate_key,
    legacy_key,
    parse,
    rollback_key,
    task_key,
)
from tests.support.backends import BACKENDS, state_setting
from tests.support.client import ClientFactory

ROLLBACK_NAMED = {"name": "rollback.podinfo", "namespace": "team-b"}
PODINFO = {"name": "podinfo", "namespace": "team-b"}


async def answer(client: TestClient[Any, Any], path: str,
                 body: dict[str, str]) -> tuple[int, str]:
    """Status and body of a POST of `body` as JSON."""
    async with client.post(path, data=json.dumps(body)) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_gate_of_rollback_named_canary_is_not_a_rollback(
        make_client: ClientFactory, tmp_path: Path, request: pytest.FixtureRequest,
        backend: str) -> None:
    """Opening the gate of `rollback.podinfo` in team-b leaves podinfo's rollback check at
    403 (colliding state keys once answered 200 Approved, and Flagger rolled podinfo back)."""
    client = await make_client(state=state_setting(backend, tmp_path, request))
    assert await answer(client, "/rollback/check", PODINFO) == (403, "Forbidden")
    assert await answer(client, "/gate/open", ROLLBACK_NAMED) == (202, "")
    assert await answer(client, "/gate/check", ROLLBACK_NAMED) == (200, "Approved")
    assert await answer(client, "/rollback/check", PODINFO) == (403, "Forbidden")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_rollback_of_canary_does_not_open_a_gate(
        make_client: ClientFactory, tmp_path: Path, request: pytest.FixtureRequest,
        backend: str) -> None:
    """The reverse: opening podinfo's rollback leaves the gate of `rollback.podinfo` closed,
    and closing that gate leaves podinfo's rollback open."""
    client = await make_client(state=state_setting(backend, tmp_path, request))
    assert await answer(client, "/rollback/open", PODINFO) == (202, "")
    assert await answer(client, "/gate/check", ROLLBACK_NAMED) == (403, "Forbidden")
    assert await answer(client, "/rollback/check", PODINFO) == (200, "Approved")
    assert await answer(client, "/gate/close", ROLLBACK_NAMED) == (202, "")
    assert await answer(client, "/rollback/check", PODINFO) == (200, "Approved")


KINDS = st.sampled_from(("gate", "rollback", "task", "canary"))
# the characters that build and split keys, often; any code point (lone surrogates too) too
PARTS = st.text(st.one_of(st.sampled_from("./:%2Frollback"),
                          st.characters(exclude_categories=())), max_size=10)
States = tuple[str, str, str, str]


def key_of(kind: str, name: str, namespace: str, digest: str) -> str:
    """The key of one kind of state."""
    if kind == "gate":
        return gate_key(name, namespace)
    if kind == "rollback":
        return rollback_key(name, namespace)
    if kind == "task":
        return task_key(name, namespace, digest)
    return canary_id(name, namespace)


def identity(kind: str, name: str, namespace: str, digest: str) -> States:
    """What a key must tell apart: the digest only for a task."""
    return kind, name, namespace, digest if kind == "task" else ""


@given(st.tuples(KINDS, PARTS, PARTS, PARTS), st.tuples(KINDS, PARTS, PARTS, PARTS))
@example(("gate", "rollback.podinfo", "team-b", ""), ("rollback", "podinfo", "team-b", ""))
@example(("gate", "a.b", "c", ""), ("gate", "a", "b.c", ""))
@example(("canary", "b", "a/", ""), ("canary", "/b", "a", ""))
@example(("task", "a/b", "c", "d"), ("task", "a", "c", "b/d"))
@example(("gate", "", "", ""), ("canary", "", "", ""))
def test_keys_never_collide(first: States, second: States) -> None:
    """Two different (kind, name, namespace[, digest]) never get one key, and a key says which
    it names (the old `name.namespace` forms failed the first two examples)."""
    if identity(*first) != identity(*second):
        assert key_of(*first) != key_of(*second)
    for kind, name, namespace, digest in (first, second):
        parsed = parse(key_of(kind, name, namespace, digest))
        if kind == "canary":
            assert parsed is None
        else:
            assert parsed is not None
            assert (parsed.kind, parsed.name, parsed.namespace, parsed.digest) == identity(
                kind, name, namespace, digest)


@given(st.sampled_from(("gate", "rollback")), PARTS, PARTS)
@example("gate", "rollback.podinfo", "team-b")
@example("rollback", "podinfo", "team-b")
def test_old_gate_rows_map_to_their_own_key(kind: str, name: str, namespace: str) -> None:
    """An earlier release's gate row (its key, and the name and namespace stored with it) maps
    to the key of the gate it was, even where the gate of `rollback.x` and the rollback of `x`
    shared the old key."""
    key = key_of(kind, name, namespace, "")
    old = legacy_key(key)
    assert old is not None and from_legacy_gate(old, name, namespace) == key


def test_kubernetes_names_stay_readable() -> None:
    """A Kubernetes name and namespace appear in the key as they are; legacy_key gives back
    what an earlier release called the same thing."""
    assert gate_key("podinfo", "team-b") == "gate:team-b/podinfo"
    assert rollback_key("podinfo", "team-b") == "rollback:team-b/podinfo"
    assert task_key("podinfo", "team-b", "ab12") == "task:team-b/podinfo/ab12"
    assert canary_id("podinfo", "team-b") == "team-b/podinfo"
    assert legacy_key(rollback_key("podinfo", "team-b")) == "rollback.podinfo.team-b"
    assert legacy_key(task_key("podinfo", "team-b", "ab12")) == "podinfo.team-b/ab12"
    assert legacy_key("podinfo.team-b") is None


def event(name: str, namespace: str, message: str) -> Event:
    """A Flagger event of one canary."""
    return Event.from_payload(WebhookPayload(name=name, namespace=namespace, phase="Progressing",
                                             metadata={"eventMessage": message}), now=1000.0)


async def test_canaries_sharing_an_old_key_keep_their_own_state(state: State) -> None:
    """`a.b` in `c` and `a` in `b.c` (one key `a.b.c` before) have their own gate, leases and
    event lane; so do the gate of `rollback.x` and the rollback of `x`."""
    await state.gates.set(gate_key("a.b", "c"), GateChange(True, name="a.b", namespace="c"))
    assert not await state.gates.is_open(gate_key("a", "b.c"))
    await state.gates.set(gate_key("rollback.x", "c"), GateChange(True))
    assert not await state.gates.is_open(rollback_key("x", "c"))
    assert await state.gates.open_counts() == {"gate": 2, "rollback": 0}

    first, second = task_key("a.b", "c", "d1"), task_key("a", "b.c", "d1")
    assert await state.tasks.claim(first, canary_id("a.b", "c"), "one", 60)
    assert await state.tasks.claim(second, canary_id("a", "b.c"), "two", 60)
    assert await state.tasks.revoke(canary_id("a", "b.c")) == 1
    assert await state.tasks.renew([first], "one", 60) == set()
    assert await state.tasks.renew([second], "two", 60) == {second}

    for name, namespace in (("a.b", "c"), ("a", "b.c")):
        stored = event(name, namespace, f"about {name} in {namespace}")
        await state.events.enqueue(stored, ["hook"], stored.identity(), 0, 1000.0)
    heads = await state.events.claim_due("hook", 1001.0, 10, 20.0)
    assert sorted(head.lane for head in heads) == sorted(
        [canary_id("a.b", "c"), canary_id("a", "b.c")])
    for name, namespace in (("a.b", "c"), ("a", "b.c")):
        listed = await state.events.history(name, namespace, 10)
        assert [record.message for record in listed] == [f"about {name} in {namespace}"]
