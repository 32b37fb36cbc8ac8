"""The one supervisor of task runs: de-duplication, limits, failure reports, shutdown.

Background runs are de-duplicated across replicas through the TaskLedger: a run holds a lease
that this runner renews every LEASE_SECONDS / 3; a lease that is revoked (the canary's release
ended, on any replica), cancelled (from the console) or lost cancels the run at the next
renewal. Every run leaves a TaskRecord in the CanaryHistory: at its start and at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from loadtester import metrics
from loadtester.errors import (
    BackgroundTaskFailed,
    CallerGone,
    ServiceUnavailable,
    StoreUnavailable,
    TooManyTasks,
)
from loadtester.logs import get_logger
from loadtester.redact import redact
from loadtester.state.base import (
    LEASE_SECONDS,
    CanaryHistory,
    Failure,
    LoadRun,
    LoadRuns,
    TaskLedger,
    TaskRecord,
)
from loadtester.state.store_keys import canary_id, task_key
from loadtester.tasks import records
from loadtester.tasks.base import Task, TaskEnvironment, TaskResult

StartOutcome = Literal["started", "skipped"]
LEASE_LOST = "its lease was revoked or lapsed"


@dataclass(frozen=True)
class RunningTask:
    """A background run in progress."""

    task: Task
    future: asyncio.Task[TaskResult]
    started: float


class TaskRunner:
    """Runs blocking checks concurrently and background tasks once per key."""

    def __init__(self, env: TaskEnvironment, ledger: TaskLedger,
                 history: CanaryHistory | None = None, runs: LoadRuns | None = None) -> None:
        self._env = env
        self._ledger = ledger
        self._history = history
        self._runs = runs
        self._why: dict[str, str] = {}  # record id -> why its run is being cancelled
        self._owner = uuid.uuid4().hex
        self._limit = env.settings.max_background_tasks
        self._max_checks = env.settings.max_checks
        self._report_failures = env.settings.background_failures == "report"
        self._running: dict[str, RunningTask] = {}
        self._blocking: set[asyncio.Task[TaskResult]] = set()
        self._renewer: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def running(self) -> list[RunningTask]:
        """Background runs in progress."""
        return list(self._running.values())

    async def run_blocking(self, task: Task,
                           caller_gone: Callable[[], Awaitable[str]] | None = None
                           ) -> TaskResult:
        """Run a check and wait for its result; up to -max-checks run at once (TooManyTasks
        past it). When `caller_gone()` ends first (with the reason), the check is cancelled,
        its process group ended, and CallerGone raised."""
        if len(self._blocking) >= self._max_checks:
            get_logger(**task.payload.log_fields(), type=task.type, task=task.description
                       ).warning("task refused: check limit reached", limit=self._max_checks)
            raise TooManyTasks(f"too many checks running ({self._max_checks}); try again later")
        record_id = uuid.uuid4().hex
        future = asyncio.ensure_future(self._supervise(task, "blocking", record_id))
        self._blocking.add(future)
        future.add_done_callback(self._blocking.discard)
        try:
            if caller_gone is None:
                return await future
            return await self._until_caller_gone(task, future, caller_gone(), record_id)
        except asyncio.CancelledError:
            if self._closing and future.cancelled():
                raise ServiceUnavailable("check ended: the service is shutting down") from None
            raise

    async def _until_caller_gone(self, task: Task, future: asyncio.Task[TaskResult],
                                 caller_gone: Awaitable[str], record_id: str) -> TaskResult:
        watcher = asyncio.ensure_future(caller_gone)
        log = get_logger(**task.payload.log_fields(), type=task.type, task=task.description)
        try:
            await asyncio.wait((future, watcher), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # aiohttp cancels the handler itself on a disconnect when handler_cancellation is
            # on (its test server), and on shutdown
            if not future.done() and not self._closing:
                log.info("task cancelled", why="the caller disconnected")
                self._why[record_id] = "the caller disconnected"
                future.cancel()
            raise
        finally:
            watcher.cancel()
        if future.done():
            return future.result()
        why = watcher.result()
        log.info("task cancelled", why=why)
        self._why[record_id] = why
        future.cancel()
        # the process group is ended (SIGTERM, -kill-grace, SIGKILL) before this returns
        await asyncio.gather(future, return_exceptions=True)
        raise CallerGone(f"check cancelled: {why}")

    async def start_background(self, task: Task) -> StartOutcome:
        """Start a background run unless the same one is running, here or on another replica.

        Raises BackgroundTaskFailed (after starting it again) when the previous run of the
        same task failed, so that Flagger sees it; TooManyTasks past the limit;
        StoreUnavailable when the state store does not answer.
        """
        log = get_logger(**task.payload.log_fields(), type=task.type, task=task.description)
        key = stored_key(task)
        if key in self._running:
            return self._skipped(task, log, "already running")
        if len(self._running) >= self._limit:
            log.warning("task refused: background limit reached", limit=self._limit)
            raise TooManyTasks(f"too many background tasks running ({self._limit}); "
                               "try again later")
        group = canary_id(task.payload.name, task.payload.namespace)
        if not await self._ledger.claim(key, group, self._owner, LEASE_SECONDS):
            return self._skipped(task, log, "already running on another replica")
        try:
            failure = await self._ledger.take_failure(key)
        except StoreUnavailable:
            with contextlib.suppress(StoreUnavailable):
                await self._ledger.release(key, self._owner, None)
            raise
        future = asyncio.ensure_future(self._background(task, key))
        self._running[key] = RunningTask(task, future, time.time())
        if self._renewer is None:
            self._renewer = asyncio.ensure_future(self._renew_leases())
        if failure and self._report_failures and _same_revision(failure, task):
            raise BackgroundTaskFailed(failure.reason)
        return "started"

    @staticmethod
    def _skipped(task: Task, log: Any, why: str) -> StartOutcome:
        metrics.TASKS_SKIPPED.labels(task.type).inc()
        log.info(f"task skipped: {why}")
        return "skipped"

    async def _background(self, task: Task, key: str) -> TaskResult:
        """One background run; its lease is given up (with its failure) when it ends."""
        failure = None
        try:
            result = await self._supervise(task, "background", key)
            if not result.ok:
                # kept in the state store (Redis, SQLite) and answered later: redacted now
                failure = Failure(redact(result.reason), task.payload.checksum)
            return result
        finally:
            try:
                await self._ledger.release(stored_key(task), self._owner, failure)
            except StoreUnavailable as exc:
                get_logger(**task.payload.log_fields(), task=task.description).warning(
                    "task end not recorded: its lease lapses by itself", error=exc.message)
            self._running.pop(stored_key(task), None)

    async def _renew_leases(self) -> None:
        """Keep this runner's leases; cancel the runs whose lease was revoked or lost."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            if not self._running:
                continue
            try:
                lost = await self._ledger.renew(list(self._running), self._owner, LEASE_SECONDS)
            except StoreUnavailable as exc:
                get_logger().warning("task leases not renewed", error=exc.message)
                continue
            for key in lost:
                running = self._running.get(key)
                if running is not None:
                    self._cancel(key, running, LEASE_LOST)

    async def cancel_canary(self, name: str, namespace: str, why: str) -> int:
        """Stop every background run of one canary, here now and on other replicas at their
        next renewal; returns how many were stopped here."""
        stopped = 0
        for running in self.running:
            payload = running.task.payload
            if payload.name == name and payload.namespace == namespace:
                self._cancel(stored_key(running.task), running, why)
                stopped += 1
        await self._ledger.revoke(canary_id(name, namespace))
        return stopped

    async def cancel(self, task_id: str, why: str) -> bool:
        """Stop the background run `task_id` (its stored_key) if it runs here, and wait until
        it has ended (its process group too) and its record says why; False if not here."""
        running = self._running.get(task_id)
        if running is None:
            return False
        self._cancel(task_id, running, why)
        await asyncio.gather(running.future, return_exceptions=True)
        return True

    def _cancel(self, key: str, running: RunningTask, why: str) -> None:
        get_logger(**running.task.payload.log_fields(), type=running.task.type,
                   task=running.task.description).info("task cancelled", why=why)
        self._why.setdefault(key, why)
        running.future.cancel()

    async def shutdown(self, grace: float) -> None:
        """Let blocking checks finish for `grace` seconds, then end everything."""
        self._closing = True
        if self._blocking:
            await asyncio.wait(set(self._blocking), timeout=grace)
        renewer = [self._renewer] if self._renewer is not None else []
        pending = [*self._blocking, *(running.future for running in self.running), *renewer]
        for future in pending:
            future.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _supervise(self, task: Task, mode: str, record_id: str) -> TaskResult:
        log = get_logger(**task.payload.log_fields(), type=task.type, task=task.description)
        metrics.TASKS_STARTED.labels(task.type).inc()
        running = metrics.TASKS_RUNNING.labels(task.type, mode)
        running.inc()
        log.info("task started", mode=mode)
        started = time.monotonic()
        outcome = "failed"
        self._why.pop(record_id, None)
        record = records.started(task, record_id)
        try:
            await self._record(record, log)
            result = await task.run(self._env)
            outcome = result.outcome
            _log_result(log, result, time.monotonic() - started)
            ended = records.ended(record, result)
            await self._record(ended, log)
            await self._record_run(records.load_run(ended, result), log)
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            log.info("task ended", outcome=outcome, duration=time.monotonic() - started)
            await self._record_cancel(record, log)
            raise
        except Exception:
            log.exception("task crashed")
            result = TaskResult(False, f"{task.type} task crashed; see the service log")
            await self._record(records.ended(record, result), log)
            return result
        finally:
            running.dec()
            metrics.TASKS_FINISHED.labels(task.type, mode, outcome).inc()
            metrics.TASK_DURATION.labels(task.type).observe(time.monotonic() - started)

    async def _record(self, record: TaskRecord, log: Any) -> None:
        """Keep the record; a store that is away costs the console a line, not the run."""
        if self._history is None:
            return
        try:
            await self._history.record_task(record)
        except StoreUnavailable as exc:
            log.warning("task record not kept", outcome=record.outcome, error=exc.message)

    async def _record_run(self, run: LoadRun | None, log: Any) -> None:
        """Keep a load run's series; a store that is away costs the console a chart."""
        if run is None or self._runs is None:
            return
        try:
            await self._runs.record(run)
        except StoreUnavailable as exc:
            log.warning("load run not kept", run=run.id, error=exc.message)

    async def _record_cancel(self, record: TaskRecord, log: Any) -> None:
        why = self._why.pop(record.id, "")
        if not why:
            why = "the service is shutting down" if self._closing else "cancelled"
        if why == LEASE_LOST and self._history is not None:
            # a cancel from another replica's console wrote the record already, with who did it
            with contextlib.suppress(StoreUnavailable):
                stored = await self._history.task(record.id)
                if stored is not None and stored.outcome == "cancelled":
                    return
        await self._record(records.cancelled(record, why), log)


def stored_key(task: Task) -> str:
    """The task's key as the ledger keeps it: a digest, so that a secret in a command never
    becomes a key name in the state store."""
    digest = hashlib.sha256(task.key.encode()).hexdigest()[:32]
    return task_key(task.payload.name, task.payload.namespace, digest)


def _same_revision(failure: Failure, task: Task) -> bool:
    # a failure of the previous revision says nothing about the new one
    return not failure.checksum or not task.payload.checksum or (
        failure.checksum == task.payload.checksum)


def _log_result(log: Any, result: TaskResult, duration: float) -> None:
    fields: dict[str, Any] = {"outcome": result.outcome, "duration": round(duration, 3),
                              **result.fields}
    if result.logged_output:
        fields["output"] = result.logged_output
    if result.ok:
        log.info("task ended", **fields)
    else:
        log.warning("task ended", reason=result.reason, **fields)
