"""Gate changes and task cancels through operations.py and the curl endpoints: made, recorded
in the audit log, and task runs recorded from start to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from loadtester.keys import RUNNER, STATE
from loadtester.operations import cancel_task, change_gate
from loadtester.state.base import State, TaskRecord, gate_key
from loadtester.tasks.runner import stored_key
from tests.support.client import ClientFactory
from tests.support.processes import wait_for_file, wait_gone
from tests.support.servers import CountingServer, Reply
from tests.support.tasks import payload, post, wait_idle
from tests.support.tokens import ADMIN, TOKENS

GATE = {"name": "podinfo", "namespace": "test", "phase": "WaitingPromotion", "checksum": "abc"}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A token file: one token for team-a, one named `alice` for every namespace."""
    path = tmp_path / "tokens"
    path.write_text(TOKENS)
    return path


def state_of(client: Any) -> State:
    """The app's state stores."""
    state: State = client.server.app[STATE]
    return state


async def recorded(client: Any, outcome: str | None = None, **filters: Any) -> TaskRecord:
    """The newest task record of podinfo.test, once it has `outcome` (any when None)."""
    history = state_of(client).history
    for _ in range(500):
        found = await history.tasks("podinfo", "test", **filters)
        if found and (outcome is None or found[0].outcome == outcome):
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no task record with outcome {outcome}: {found}")


async def test_curl_gate_switches_are_audited(make_client: ClientFactory) -> None:
    """/gate/open and /rollback/close (Go's, unbound) each leave an anonymous audit entry."""
    client = await make_client()
    assert await post(client, GATE, "/gate/open") == (202, "")
    assert await post(client, GATE, "/rollback/close") == (202, "")
    entries = await state_of(client).audit.entries("podinfo", "test")
    assert [(e.action, e.who, e.peer, e.revision) for e in entries] == [
        ("rollback-close", "anonymous", "127.0.0.1", ""),
        ("gate-open", "anonymous", "127.0.0.1", "")]
    change = await state_of(client).gates.get(gate_key("podinfo", "test"))
    assert change is not None and change.is_open and not change.bound
    assert await post(client, {**GATE, "checksum": "other"}, "/gate/check") == (200, "Approved")


async def test_audit_names_the_token(make_client: ClientFactory,
                                     token_file: Path) -> None:
    """With -token-file, the audit entry's who is the token's name."""
    client = await make_client(token_file=str(token_file))
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with client.post("/gate/close", json=GATE, headers=headers) as response:
        assert response.status == 202
    (entry,) = await state_of(client).audit.entries()
    assert (entry.action, entry.who) == ("gate-close", "alice")


async def test_bound_approval_passes_its_revision_only(make_client: ClientFactory) -> None:
    """An approval bound to "abc" lets /gate/check of "abc" pass and refuses "def"."""
    client = await make_client()
    app = client.server.app
    change = await change_gate(app[STATE], "gate", "podinfo", "test", True, who="bob",
                               peer="10.0.0.9", checksum="abc", bound=True)
    assert change.bound and change.by == "bob@10.0.0.9"
    assert await post(client, GATE, "/gate/check") == (200, "Approved")
    assert await post(client, {**GATE, "checksum": "def"}, "/gate/check") == (403, "Forbidden")
    assert await post(client, {**GATE, "checksum": "def"}, "/rollback/check") == (
        403, "Forbidden")
    (entry,) = await state_of(client).audit.entries("podinfo", "test")
    assert (entry.action, entry.who, entry.peer, entry.revision) == (
        "gate-open", "bob", "10.0.0.9", "abc")
    await change_gate(app[STATE], "rollback", "podinfo", "test", True, who="bob",
                      peer="10.0.0.9", checksum="abc", bound=True)
    assert await post(client, GATE, "/rollback/check") == (200, "Approved")
    assert [e.action for e in await state_of(client).audit.entries()] == [
        "rollback-open", "gate-open"]


async def test_background_task_record_running_then_succeeded(make_client: ClientFactory,
                                                             tmp_path: Path) -> None:
    """A background run's record says running while it runs, then succeeded with its end."""
    client = await make_client()
    go = tmp_path / "go"
    command = f"while [ ! -e {go} ]; do sleep 0.02; done"
    assert await post(client, payload({"cmd": command})) == (202, "")
    running = await recorded(client)
    assert (running.outcome, running.ended_at, running.background) == ("running", None, True)
    assert (running.type, running.description, running.checksum) == (
        "cmd", command, "85d557f47b")
    assert [running.id] == [stored_key(r.task) for r in client.server.app[RUNNER].running]
    go.touch()
    await wait_idle(client)
    ended = await recorded(client, "succeeded")
    assert ended.id == running.id and ended.ended_at is not None
    assert ended.ended_at >= ended.started_at == running.started_at


async def test_failed_task_record_has_the_reason(make_client: ClientFactory) -> None:
    """A failed background run's record says failed, with its (redacted) reason."""
    client = await make_client()
    command = "echo 'login failed for https://admin:hunter2@db/' && exit 3"
    assert await post(client, payload({"cmd": command})) == (202, "")
    await wait_idle(client)
    record = await recorded(client, "failed")
    assert "exit status 3" in record.reason and "hunter2" not in record.reason
    assert "hunter2" not in record.description and "admin:***@db" in record.description


async def test_blocking_check_is_recorded(make_client: ClientFactory) -> None:
    """A blocking check leaves a record of its own id, not background, with its outcome."""
    client = await make_client()
    assert (await post(client, payload({"type": "bash", "cmd": "exit 1"})))[0] == 500
    assert await post(client, payload({"type": "bash", "cmd": "true"})) == (200, "")
    ok, failed = await state_of(client).history.tasks("podinfo", "test")
    assert (ok.outcome, failed.outcome) == ("succeeded", "failed")
    assert not ok.background and ok.id != failed.id and len(ok.id) == 32


async def test_load_run_record_has_its_figures(make_client: ClientFactory) -> None:
    """A load run's record carries its rate, p50, p99, error rate and request count."""
    server = await CountingServer(lambda n: Reply()).start()
    try:
        client = await make_client()
        meta = {"type": "load", "url": server.url, "requests": "30", "concurrency": "3",
                "wait": "true"}
        status, _ = await post(client, payload(meta))
        assert status == 200
    finally:
        await server.close()
    record = await recorded(client, "succeeded")
    assert record.load is not None
    assert record.load["requests"] == 30 and record.load["error_rate"] == 0
    assert record.load["rate"] > 0 and 0 < record.load["p50"] <= record.load["p99"]


async def test_cancel_stops_a_running_task(make_client: ClientFactory, tmp_path: Path) -> None:
    """cancel_task ends a `sleep 30` run here at once, records why and who, and audits it."""
    client = await make_client()
    pids = tmp_path / "pids"
    assert await post(client, payload({"cmd": f"echo $$ > {pids}; exec sleep 30"})) == (202, "")
    pgid = int(await wait_for_file(pids))
    running = await recorded(client, "running")
    app = client.server.app
    record = await cancel_task(app[STATE], app[RUNNER], running.id, who="alice",
                               peer="10.0.0.5")
    assert record is not None
    assert (record.outcome, record.reason) == ("cancelled", "cancelled by alice")
    assert record.ended_at is not None
    assert await wait_gone([pgid]) == []
    assert client.server.app[RUNNER].running == []
    (entry,) = await state_of(client).audit.entries("podinfo", "test")
    assert (entry.action, entry.who, entry.peer, entry.revision) == (
        "task-cancel", "alice", "10.0.0.5", "85d557f47b")
    assert running.id in entry.detail and "sleep 30" in entry.detail


@pytest.mark.system
async def test_cancel_reaches_the_replica_running_it(make_client: ClientFactory,
                                                     tmp_path: Path) -> None:
    """A cancel on another replica (same state) stops the run at its owner's next renewal and
    the record keeps who cancelled it."""
    shared = str(tmp_path / "shared")
    here, there = await make_client(state=shared), await make_client(state=shared)
    pids = tmp_path / "pids"
    assert await post(here, payload({"cmd": f"echo $$ > {pids}; exec sleep 30"})) == (202, "")
    pgid = int(await wait_for_file(pids))
    running = await recorded(here, "running")
    record = await cancel_task(there.server.app[STATE], there.server.app[RUNNER], running.id,
                               who="bob", peer="10.0.0.6")
    assert record is not None and (record.outcome, record.reason) == (
        "cancelled", "cancelled by bob")
    assert await wait_gone([pgid], within=10) == []
    await wait_idle(here)
    stored = await state_of(here).history.task(running.id)
    assert stored is not None and stored.reason == "cancelled by bob"


async def test_cancel_of_unknown_or_ended_task(make_client: ClientFactory) -> None:
    """An unknown id is None; an ended task is answered unchanged, and nothing is audited."""
    client = await make_client()
    app = client.server.app
    state, runner = app[STATE], app[RUNNER]
    assert await cancel_task(state, runner, "nothing", who="alice", peer="10.0.0.5") is None
    assert await post(client, payload({"cmd": "true"})) == (202, "")
    await wait_idle(client)
    ended = await recorded(client, "succeeded")
    assert await cancel_task(state, runner, ended.id, who="alice", peer="10.0.0.5") == ended
    assert await state_of(client).audit.entries() == []
