"""The one supervisor of task runs: de-duplication, limits, failure reports, shutdown."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

from loadtester import metrics
from loadtester.errors import BackgroundTaskFailed, ServiceUnavailable, TooManyTasks
from loadtester.logs import get_logger
from loadtester.tasks.base import Task, TaskEnvironment, TaskResult

StartOutcome = Literal["started", "skipped"]


@dataclass(frozen=True)
class _Failure:
    reason: str
    checksum: str


@dataclass(frozen=True)
class RunningTask:
    """A background run in progress."""

    task: Task
    future: asyncio.Task[TaskResult]
    started: float


class TaskRunner:
    """Runs blocking checks concurrently and background tasks once per key."""

    def __init__(self, env: TaskEnvironment) -> None:
        self._env = env
        self._limit = env.settings.max_background_tasks
        self._report_failures = env.settings.background_failures == "report"
        self._running: dict[str, RunningTask] = {}
        self._failures: dict[str, _Failure] = {}
        self._blocking: set[asyncio.Task[TaskResult]] = set()
        self._closing = False

    @property
    def running(self) -> list[RunningTask]:
        """Background runs in progress."""
        return list(self._running.values())

    async def run_blocking(self, task: Task) -> TaskResult:
        """Run a check and wait for its result; many run at once."""
        future = asyncio.ensure_future(self._supervise(task, "blocking"))
        self._blocking.add(future)
        future.add_done_callback(self._blocking.discard)
        try:
            return await future
        except asyncio.CancelledError:
            if self._closing and future.cancelled():
                raise ServiceUnavailable("check ended: the service is shutting down") from None
            raise

    def start_background(self, task: Task) -> StartOutcome:
        """Start a background run unless the same one is running.

        Raises BackgroundTaskFailed (after starting it again) when the previous run of the
        same task failed, so that Flagger sees it; TooManyTasks past the limit.
        """
        log = get_logger(**task.payload.log_fields(), type=task.type, task=task.description)
        if task.key in self._running:
            metrics.TASKS_SKIPPED.labels(task.type).inc()
            log.info("task skipped: already running")
            return "skipped"
        if len(self._running) >= self._limit:
            log.warning("task refused: background limit reached", limit=self._limit)
            raise TooManyTasks(f"too many background tasks running ({self._limit}); "
                               "try again later")
        failure = self._failures.pop(task.key, None)
        future = asyncio.ensure_future(self._supervise(task, "background"))
        self._running[task.key] = RunningTask(task, future, time.time())
        future.add_done_callback(lambda _: self._finished(task))
        if failure and self._report_failures and _same_revision(failure, task):
            raise BackgroundTaskFailed(failure.reason)
        return "started"

    def _finished(self, task: Task) -> None:
        running = self._running.get(task.key)
        if running is None or not running.future.done():
            return
        del self._running[task.key]
        if running.future.cancelled():
            return
        result = running.future.result()
        if not result.ok:
            self._failures[task.key] = _Failure(result.reason, task.payload.checksum)

    def cancel_canary(self, name: str, namespace: str, why: str) -> int:
        """Stop every background run of one canary; returns how many were stopped."""
        stopped = 0
        for running in self.running:
            payload = running.task.payload
            if payload.name == name and payload.namespace == namespace:
                get_logger(**payload.log_fields(), type=running.task.type,
                           task=running.task.description).info("task cancelled", why=why)
                running.future.cancel()
                stopped += 1
        return stopped

    async def shutdown(self, grace: float) -> None:
        """Let blocking checks finish for `grace` seconds, then end everything."""
        self._closing = True
        if self._blocking:
            await asyncio.wait(set(self._blocking), timeout=grace)
        pending = [*self._blocking, *(running.future for running in self.running)]
        for future in pending:
            future.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _supervise(self, task: Task, mode: str) -> TaskResult:
        log = get_logger(**task.payload.log_fields(), type=task.type, task=task.description)
        metrics.TASKS_STARTED.labels(task.type).inc()
        running = metrics.TASKS_RUNNING.labels(task.type, mode)
        running.inc()
        log.info("task started", mode=mode)
        started = time.monotonic()
        outcome = "failed"
        try:
            result = await task.run(self._env)
            outcome = result.outcome
            _log_result(log, result, time.monotonic() - started)
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            log.info("task ended", outcome=outcome, duration=time.monotonic() - started)
            raise
        except Exception:
            log.exception("task crashed")
            return TaskResult(False, f"{task.type} task crashed; see the service log")
        finally:
            running.dec()
            metrics.TASKS_FINISHED.labels(task.type, outcome).inc()
            metrics.TASK_DURATION.labels(task.type).observe(time.monotonic() - started)


def _same_revision(failure: _Failure, task: Task) -> bool:
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
