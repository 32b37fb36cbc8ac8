"""TaskRunner: de-duplication, limits, background-failure reports, concurrency, shutdown."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadtester.errors import BackgroundTaskFailed, TooManyTasks
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.state.sqlite import SqliteTaskLedger
from loadtester.tasks.base import Task, TaskEnvironment
from loadtester.tasks.registry import build_task
from loadtester.tasks.runner import TaskRunner
from tests.support.processes import group_members, wait_for_file, wait_gone

RunnerFactory = Callable[..., TaskRunner]


@pytest.fixture
async def make_runner(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[RunnerFactory]:
    """TaskRunners on the given settings, shut down at the end of the test."""
    runners: list[TaskRunner] = []
    async with aiohttp.ClientSession() as session:

        def make(**overrides: Any) -> TaskRunner:
            runner = TaskRunner(TaskEnvironment(make_settings(**overrides), session),
                                SqliteTaskLedger(sqlite3.connect(":memory:", isolation_level=None)))
            runners.append(runner)
            return runner

        yield make
        for runner in runners:
            await runner.shutdown(0)


def task(cmd: str, *, name: str = "podinfo", kind: str = "cmd", checksum: str = "") -> Task:
    """A task built from a payload, as POST / builds it."""
    payload = WebhookPayload(
        name=name, namespace="test", checksum=checksum, metadata={"type": kind, "cmd": cmd}
    )
    return build_task(payload)


async def wait_idle(runner: TaskRunner) -> None:
    """Wait until no background run is in progress (and its end has been recorded)."""
    for running in runner.running:
        await asyncio.gather(running.future, return_exceptions=True)
    await asyncio.sleep(0)


@pytest.mark.system
async def test_dedup_while_running(make_runner: RunnerFactory, tmp_path: Path) -> None:
    """A second start of the same canary + command while it runs is skipped; one process ran."""
    runner = make_runner()
    log = tmp_path / "runs"
    cmd = f"echo run >> {log}; sleep 0.5"
    assert await runner.start_background(task(cmd)) == "started"
    assert await runner.start_background(task(cmd)) == "skipped"
    assert await runner.start_background(task(cmd)) == "skipped"
    await wait_idle(runner)
    assert log.read_text() == "run\n"
    assert await runner.start_background(task(cmd)) == "started"
    await wait_idle(runner)
    assert log.read_text() == "run\nrun\n"


async def test_dedup_key_is_canary_and_command(make_runner: RunnerFactory) -> None:
    """Another canary or another command is a different task and starts."""
    runner = make_runner()
    assert await runner.start_background(task("sleep 5")) == "started"
    assert await runner.start_background(task("sleep 5", name="other")) == "started"
    assert await runner.start_background(task("sleep 5 ")) == "started"
    assert len(runner.running) == 3


async def test_background_failure_reported_and_restarted(
    make_runner: RunnerFactory, tmp_path: Path
) -> None:
    """After a failed background run the next start raises the reason and runs it again."""
    runner = make_runner()
    log = tmp_path / "runs"
    cmd = f"echo run >> {log}; hye -z 1m"
    await runner.start_background(task(cmd))
    await wait_idle(runner)
    with pytest.raises(BackgroundTaskFailed) as failed:
        await runner.start_background(task(cmd))
    assert failed.value.status == 500
    assert failed.value.message.startswith("background task failed: exit status 127: ")
    assert "hye" in failed.value.message and "not found" in failed.value.message
    assert "\n" not in failed.value.message
    assert len(runner.running) == 1  # started again
    await wait_idle(runner)
    assert log.read_text() == "run\nrun\n"


async def test_background_success_clears_failure(
    make_runner: RunnerFactory, tmp_path: Path
) -> None:
    """A failure is reported once; a later successful run answers normally again."""
    runner = make_runner()
    flag = tmp_path / "flag"
    cmd = f"test -e {flag} || {{ touch {flag}; exit 3; }}"
    await runner.start_background(task(cmd))
    await wait_idle(runner)
    with pytest.raises(BackgroundTaskFailed, match="exit status 3"):
        await runner.start_background(task(cmd))
    await wait_idle(runner)
    assert await runner.start_background(task(cmd)) == "started"
    await wait_idle(runner)
    assert await runner.start_background(task(cmd)) == "started"


async def test_failure_of_previous_revision_not_reported(make_runner: RunnerFactory) -> None:
    """A failure recorded for another checksum (an older revision) is not reported."""
    runner = make_runner()
    await runner.start_background(task("exit 1", checksum="aaa"))
    await wait_idle(runner)
    assert await runner.start_background(task("exit 1", checksum="bbb")) == "started"


async def test_failures_ignored(make_runner: RunnerFactory) -> None:
    """With background_failures=ignore a failed run is restarted without an error."""
    runner = make_runner(background_failures="ignore")
    await runner.start_background(task("exit 1"))
    await wait_idle(runner)
    assert await runner.start_background(task("exit 1")) == "started"


async def test_background_limit(make_runner: RunnerFactory) -> None:
    """Past max_background_tasks a new task is refused with 429; a duplicate is still skipped."""
    runner = make_runner(max_background_tasks=2)
    await runner.start_background(task("sleep 30"))
    await runner.start_background(task("sleep 31"))
    with pytest.raises(TooManyTasks) as refused:
        await runner.start_background(task("sleep 32"))
    assert refused.value.status == 429
    assert "too many background tasks" in refused.value.message
    assert await runner.start_background(task("sleep 30")) == "skipped"


@pytest.mark.system
async def test_blocking_checks_run_concurrently(make_runner: RunnerFactory) -> None:
    """Eight 1-second checks of eight canaries finish together, not one after another."""
    runner = make_runner()
    started = time.monotonic()
    results = await asyncio.gather(
        *(runner.run_blocking(task("sleep 1", name=f"c{i}", kind="bash")) for i in range(8))
    )
    assert all(result.ok for result in results)
    assert time.monotonic() - started < 4


async def test_blocking_failure_reason(make_runner: RunnerFactory) -> None:
    """A failing check gives `command <cmd> failed: <output>: exit status <n>`."""
    runner = make_runner()
    result = await runner.run_blocking(task("echo boom; exit 4", kind="bash"))
    assert not result.ok
    assert result.reason == "command echo boom; exit 4 failed: boom\n: exit status 4"


async def test_timeout_applies_to_background(make_runner: RunnerFactory, tmp_path: Path) -> None:
    """A background run past -timeout is ended with its whole group and reported as failed."""
    runner = make_runner(timeout=0.5, kill_grace=0.5)
    pids = tmp_path / "pids"
    cmd = f"sleep 300 & echo $$ $! > {pids}; wait"
    await runner.start_background(task(cmd))
    await wait_idle(runner)
    assert await wait_gone([int(word) for word in pids.read_text().split()]) == []
    with pytest.raises(BackgroundTaskFailed, match="timed out"):
        await runner.start_background(task(cmd))


async def test_cancel_canary(make_runner: RunnerFactory, tmp_path: Path) -> None:
    """cancel_canary ends every background run of that canary and only of that canary."""
    runner = make_runner()
    pids = tmp_path / "pids"
    await runner.start_background(task(f"echo $$ > {pids}; sleep 300"))
    await runner.start_background(task("sleep 301", name="other"))
    pgid = int(await wait_for_file(pids))
    assert await runner.cancel_canary("podinfo", "test", "test") == 1
    await asyncio.sleep(0)
    assert await wait_gone([pgid]) == []
    assert [r.task.payload.name for r in runner.running] == ["other"]


async def test_shutdown_ends_process_groups(make_runner: RunnerFactory, tmp_path: Path) -> None:
    """Shutdown ends every running background group and any blocking check: no orphan."""
    runner = make_runner(kill_grace=1)
    bg_pids = tmp_path / "bg"
    check_pids = tmp_path / "check"
    await runner.start_background(task(f"sleep 300 & echo $$ $! > {bg_pids}; wait"))
    check = asyncio.ensure_future(
        runner.run_blocking(task(f"sleep 300 & echo $$ $! > {check_pids}; wait", kind="bash"))
    )
    pids = [int(word) for word in (await wait_for_file(bg_pids)).split()]
    pids += [int(word) for word in (await wait_for_file(check_pids)).split()]
    started = time.monotonic()
    await runner.shutdown(0.2)
    assert time.monotonic() - started < 5
    assert runner.running == []
    assert await wait_gone(pids) == []
    assert group_members(pids[0]) == [] and group_members(pids[2]) == []
    with pytest.raises(Exception, match="shutting down"):
        await check
