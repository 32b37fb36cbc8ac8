"""Delivery workers: one attempt at a time per lane (sink + canary), many lanes at once,
exponential backoff with jitter, Retry-After honoured, dead-letter after the maximum age."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from typing import Any

import aiohttp

from loadtester import metrics
from loadtester.events.config import Delivery as DeliverySettings
from loadtester.events.outbox import Delivery, Lane, Outbox
from loadtester.events.sink import Sink, Verdict
from loadtester.events.templates import TemplateProblem
from loadtester.logs import get_logger

POLL = 5.0
PRUNE_EVERY = 60.0
_ANSWER_LIMIT = 64 * 1024


def backoff(attempt: int, low: float, high: float) -> float:
    """Delay before retry number `attempt` (1-based): doubling, capped, with equal jitter."""
    ceiling = min(high, low * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def describe(error: BaseException, timeout: float) -> str:
    """A reason that never carries the URL (which may itself be a secret)."""
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect to {error.host}:{error.port}: {error.os_error.strerror or error}"
    if isinstance(error, asyncio.TimeoutError):
        return f"no answer within {timeout:g}s"
    return f"{type(error).__name__}"


class Dispatcher:
    """Delivers pending outbox rows until closed."""

    def __init__(self, outbox: Outbox, sinks: dict[str, Sink], settings: DeliverySettings,
                 session: aiohttp.ClientSession) -> None:
        self._outbox = outbox
        self._sinks = sinks
        self._settings = settings
        self._session = session
        self._wake = asyncio.Event()
        self._busy: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._depth_sinks: set[str] = set()

    def start(self) -> None:
        self._loop = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def close(self, grace: float = 2.0) -> None:
        """Stop: in-flight attempts get `grace` seconds, then stay pending for the next start."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        flying = list(self._busy.values())
        if flying:
            _done, pending = await asyncio.wait(flying, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        log = get_logger()
        while True:
            self._wake.clear()
            try:
                delay = self._pass()
            except Exception:
                log.exception("event outbox pass failed")
                delay = POLL
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    def _pass(self) -> float:
        """Start what is due; return how long to sleep before the next pass."""
        now = time.time()
        if now - self._last_prune > PRUNE_EVERY:
            self._last_prune = now
            self._outbox.prune(max(2 * self._settings.fold_window, 3600.0), now)
        lanes = self._outbox.lanes()
        self._report_depth(lanes)
        sleep = POLL
        for lane in lanes:
            key = (lane.sink, lane.lane)
            if key in self._busy:
                continue
            if len(self._busy) >= self._settings.concurrency:
                break
            row = self._outbox.get(lane.head)
            if row is None:
                continue
            if row.next_at > now:
                sleep = min(sleep, row.next_at - now)
                continue
            task = asyncio.ensure_future(self._guarded(row))
            self._busy[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        return max(sleep, 0.001)

    def _finished(self, key: tuple[str, str], _task: asyncio.Task[None]) -> None:
        self._busy.pop(key, None)
        self._wake.set()

    def _report_depth(self, lanes: list[Lane]) -> None:
        depth: dict[str, int] = dict.fromkeys(self._depth_sinks, 0)
        for lane in lanes:
            depth[lane.sink] = depth.get(lane.sink, 0) + lane.depth
        for sink, count in depth.items():
            metrics.OUTBOX_DEPTH.labels(sink).set(count)
        self._depth_sinks = set(depth)

    async def _guarded(self, row: Delivery) -> None:
        try:
            await self._attempt(row)
        except Exception:  # the row stays pending and is tried again after a pause
            get_logger(canary=row.event.name, namespace=row.event.namespace,
                       sink=row.sink).exception("event delivery crashed")
            with contextlib.suppress(Exception):
                wait = backoff(row.attempts + 1, self._settings.min_backoff,
                               self._settings.max_backoff)
                self._outbox.retry(row.id, time.time() + wait, "delivery crashed")

    async def _attempt(self, row: Delivery) -> None:
        event = row.event
        attempt = row.attempts + 1
        log = get_logger(canary=event.name, namespace=event.namespace, phase=event.phase,
                         sink=row.sink, attempt=attempt, delivery=row.id)
        sink = self._sinks.get(row.sink)
        if sink is None:
            self._dead(row, log, "the sink is no longer configured")
            return
        try:
            call = sink.request(event, row.count)
        except (ValueError, TemplateProblem) as exc:
            self._dead(row, log, f"cannot build the message: {exc}")
            return
        started = time.monotonic()
        try:
            async with self._session.request(
                call.method, call.url, data=call.body, headers=call.headers,
                timeout=aiohttp.ClientTimeout(total=sink.timeout),
            ) as answer:
                body = await answer.content.read(_ANSWER_LIMIT)
                verdict = sink.judge(answer.status, answer.headers, body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            verdict = Verdict("retry", describe(exc, sink.timeout))
        took = round(time.monotonic() - started, 4)
        now = time.time()
        if verdict.outcome == "delivered":
            self._outbox.delivered(row.id, row.count, now)
            metrics.EVENT_DELIVERIES.labels(row.sink, "delivered").inc()
            metrics.EVENT_DELIVERY_SECONDS.labels(row.sink).observe(max(0.0, now -
                                                                        row.received_at))
            log.info("event delivered", took=took, count=row.count, answer=verdict.reason)
            return
        if verdict.outcome == "dead":
            self._dead(row, log, verdict.reason)
            return
        settings = self._settings
        wait = (verdict.retry_after if verdict.retry_after is not None
                else backoff(attempt, settings.min_backoff, settings.max_backoff))
        if now + wait - row.received_at > settings.max_age:
            self._dead(row, log, f"{verdict.reason}; not delivered within "
                                 f"{settings.max_age:g}s")
            return
        self._outbox.retry(row.id, now + wait, verdict.reason)
        metrics.EVENT_DELIVERIES.labels(row.sink, "retry").inc()
        log.warning("event delivery failed; will retry", reason=verdict.reason,
                    retry_in=round(wait, 3), took=took)

    def _dead(self, row: Delivery, log: Any, reason: str) -> None:
        self._outbox.dead(row.id, reason)
        metrics.EVENT_DELIVERIES.labels(row.sink, "dead").inc()
        log.error("event dead-lettered", reason=reason,
                              age=round(time.time() - row.received_at, 3))
