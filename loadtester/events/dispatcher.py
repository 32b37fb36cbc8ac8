"""Delivery workers over an EventQueue: one attempt at a time per lane (sink + canary), many
lanes at once, exponential backoff with jitter, Retry-After honoured, dead letters.

Each pass claims only heads that are due, up to the free concurrency, then sleeps until the
earliest next one (at most POLL, so that other replicas' work and lapsed leases are noticed).
A sink whose delivery ended in a retry is "failing": it gets one probe at a time, after a
backoff that grows with its consecutive failures, until a delivery succeeds (a circuit
breaker); its other lanes wait untouched. Anything one attempt raises ends that attempt only.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from loadtester import metrics
from loadtester.errors import StoreUnavailable
from loadtester.events.config import Delivery as DeliverySettings
from loadtester.events.sink import Sink, Verdict
from loadtester.logs import get_logger
from loadtester.state.base import DELIVERY_LEASE_SECONDS, Delivery, EventQueue

POLL = 5.0
PRUNE_EVERY = 60.0
ERROR_PAUSE = 1.0
_ANSWER_LIMIT = 64 * 1024
_LARGE_BODY = 1024 * 1024


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


@dataclass
class Breaker:
    """A failing sink: how often it failed in a row, when it may be probed, whether it is."""

    failures: int = 0
    probe_at: float = 0.0
    probing: bool = False


class Dispatcher:
    """Delivers due queue entries until closed."""

    def __init__(self, queue: EventQueue, sinks: dict[str, Sink], settings: DeliverySettings,
                 session: aiohttp.ClientSession) -> None:
        self._queue = queue
        self._sinks = sinks
        self._settings = settings
        self._session = session
        self._wake = asyncio.Event()
        self._sending: set[tuple[str, str]] = set()  # lanes (sink, canary) of our attempts
        self._attempts: set[asyncio.Task[None]] = set()
        self._failing: dict[str, Breaker] = {}
        self._loop: asyncio.Task[None] | None = None
        self._closing = False
        self._last_prune = 0.0
        self._turn = 0

    def start(self) -> None:
        self._loop = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def close(self, grace: float = 2.0) -> None:
        """Stop: in-flight attempts get `grace` seconds; the rest is delivered after a restart
        (or by another replica once the lease lapses)."""
        # the flag, not only the cancel: Python 3.11's wait_for can swallow a cancellation that
        # arrives as its wait ends, and the loop would then never stop
        self._closing = True
        self._wake.set()
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        flying = list(self._attempts)
        if flying:
            _done, pending = await asyncio.wait(flying, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        log = get_logger()
        store_away = False
        while not self._closing:
            self._wake.clear()
            try:
                delay = await self._pass()
                if store_away:
                    log.info("event queue reachable again")
                    store_away = False
            except StoreUnavailable as exc:  # said once, not every second of an outage
                log.log(logging.DEBUG if store_away else logging.WARNING,
                        "event queue unavailable; delivery waits", error=exc.message)
                store_away = True
                delay = ERROR_PAUSE
            except Exception:  # a bug: pause, go on
                log.exception("event queue pass failed")
                delay = ERROR_PAUSE
            if delay > 0 and not self._closing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()

    async def _pass(self) -> float:
        """Start what is due; return how long to sleep before the next pass."""
        now = time.time()
        if now - self._last_prune > PRUNE_EVERY:
            self._last_prune = now
            await self._queue.prune(max(2 * self._settings.fold_window, 3600.0), now)
        wake_at = now + POLL
        sinks = await self._queue.sinks()
        if sinks:  # a different sink first each pass, so that a busy one starves no other
            self._turn = (self._turn + 1) % len(sinks)
            sinks = sinks[self._turn:] + sinks[:self._turn]
        for sink in sinks:
            free = self._settings.concurrency - len(self._attempts)
            if free <= 0:
                break  # a finishing attempt wakes the loop
            breaker = self._failing.get(sink)
            if breaker is not None:
                if breaker.probing:
                    continue
                if breaker.probe_at > now:
                    wake_at = min(wake_at, breaker.probe_at)
                    continue
                free = 1
            claimed = await self._queue.claim_due(sink, now, free, self._lease(sink))
            for entry in claimed:
                if (sink, entry.lane) in self._sending:  # ours outlived its lease; it goes on
                    continue
                if breaker is not None:
                    breaker.probing = True
                self._sending.add((sink, entry.lane))
                self._attempts.add(asyncio.ensure_future(
                    self._attempt(entry, probe=breaker is not None)))
            if len(claimed) < free:
                due = await self._queue.next_due(sink)
                if due is not None:
                    wake_at = min(wake_at, due)
        return max(wake_at - time.time(), 0.001)

    def _lease(self, sink: str) -> float:
        known = self._sinks.get(sink)
        return max(DELIVERY_LEASE_SECONDS, known.timeout + 5.0 if known else 0.0)

    async def _attempt(self, entry: Delivery, probe: bool) -> None:
        """One delivery attempt; whatever happens, it ends here and the lane goes on."""
        lane = (entry.sink, entry.lane)
        event = entry.event
        log = get_logger(canary=event.name if event else entry.lane,
                         namespace=event.namespace if event else None,
                         phase=event.phase if event else None, sink=entry.sink,
                         attempt=entry.attempts + 1, delivery=entry.id)
        released = False
        try:
            started = time.monotonic()
            try:
                verdict = await self._send(entry)
            except Exception as exc:  # a bug in a sink: this entry can never be sent
                log.exception("event delivery crashed")
                verdict = Verdict("dead", f"delivery crashed: {type(exc).__name__}: {exc}")
            took = round(time.monotonic() - started, 4)
            self._judge_sink(entry.sink, verdict, probe)
            # the lane is free before its outcome is stored: a claim answered in between hands
            # out the next head only once the store has it, and must not find the lane ours
            self._sending.discard(lane)
            released = True
            try:
                await self._record(entry, verdict, log, took)
            except Exception as exc:  # the entry stays leased until the lease lapses
                log.warning("event outcome not recorded; the delivery will be repeated",
                            outcome=verdict.outcome, error=str(exc) or type(exc).__name__)
        finally:
            if not released:  # cancelled (at close) while sending
                self._sending.discard(lane)
            current = asyncio.current_task()
            if current is not None:
                self._attempts.discard(current)
            self._wake.set()

    async def _send(self, entry: Delivery) -> Verdict:
        """The verdict of one attempt; raises only for a bug."""
        settings = self._settings
        sink = self._sinks.get(entry.sink)
        if entry.event is None:
            return Verdict("dead", "the stored event cannot be read")
        if sink is None:
            return Verdict("dead", "the sink is no longer configured")
        if time.time() - entry.received_at > settings.max_age:
            return Verdict("dead", f"not delivered within {settings.max_age:g}s")
        try:
            call = sink.request(entry.event, entry.count)
        except Exception as exc:  # a template that fails, a timestamp no datetime can hold...
            return Verdict("dead", f"cannot build the message: {_reason(exc)}")
        try:
            async with self._session.request(
                call.method, call.url, data=_payload(call.body), headers=call.headers,
                timeout=aiohttp.ClientTimeout(total=sink.timeout),
            ) as answer:
                body = await answer.content.read(_ANSWER_LIMIT)
                return sink.judge(answer.status, answer.headers, body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            if isinstance(exc, aiohttp.InvalidURL):
                return Verdict("dead", "the sink URL is invalid")
            return Verdict("retry", describe(exc, sink.timeout))
        except ValueError as exc:  # aiohttp refuses the request (a control character in a header)
            return Verdict("dead", f"cannot send the message: {_reason(exc)}")

    async def _record(self, entry: Delivery, verdict: Verdict, log: Any, took: float) -> None:
        settings = self._settings
        now = time.time()
        if verdict.outcome == "delivered":
            await self._queue.delivered(entry, now)
            metrics.EVENT_DELIVERIES.labels(entry.sink, "delivered").inc()
            metrics.EVENT_DELIVERY_SECONDS.labels(entry.sink).observe(
                max(0.0, now - entry.received_at))
            log.info("event delivered", took=took, count=entry.count, answer=verdict.reason)
            return
        reason = verdict.reason
        if verdict.outcome == "retry":
            attempt = entry.attempts + 1
            wait = (verdict.retry_after if verdict.retry_after is not None
                    else backoff(attempt, settings.min_backoff, settings.max_backoff))
            if 0 < settings.max_attempts <= attempt:
                reason = f"{reason}; {attempt} attempts failed"
            elif now + wait - entry.received_at > settings.max_age:
                reason = f"{reason}; not delivered within {settings.max_age:g}s"
            else:
                await self._queue.retry(entry, now + wait, reason)
                metrics.EVENT_DELIVERIES.labels(entry.sink, "retry").inc()
                log.warning("event delivery failed; will retry", reason=reason,
                            retry_in=round(wait, 3), took=took)
                return
        await self._queue.dead(entry, reason, now)
        metrics.EVENT_DELIVERIES.labels(entry.sink, "dead").inc()
        log.error("event dead-lettered", reason=reason,
                  age=round(now - entry.received_at, 3))

    def _judge_sink(self, sink: str, verdict: Verdict, probe: bool) -> None:
        """Open, widen or close the sink's breaker after one of its attempts ended."""
        breaker = self._failing.get(sink)
        if verdict.outcome == "delivered":
            if breaker is not None:
                get_logger(sink=sink).info("event sink answers again",
                                           failures=breaker.failures)
            self._failing.pop(sink, None)
            return
        if breaker is not None and probe:
            breaker.probing = False
        # attempts already in flight when the breaker opened do not widen it
        if verdict.outcome != "retry" or (breaker is not None and not probe):
            return
        if breaker is None:
            breaker = self._failing[sink] = Breaker()
            get_logger(sink=sink).warning("event sink failing: one probe at a time",
                                          reason=verdict.reason)
        breaker.failures += 1
        settings = self._settings
        wait = backoff(breaker.failures, settings.min_backoff, settings.max_backoff)
        breaker.probe_at = time.time() + max(wait, verdict.retry_after or 0.0)


def _payload(body: bytes) -> bytes | io.BytesIO:
    # aiohttp writes a large bytes body in one go on the event loop (and warns); a stream is
    # written in chunks
    return io.BytesIO(body) if len(body) > _LARGE_BODY else body


def _reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


