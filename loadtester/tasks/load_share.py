"""The other side of a spread load run (load_spread.py): every replica on a shared store says
it is live (a heartbeat), reads the runs published, claims at most one share of each, runs
it from the agreed instant and reports back its progress (each second: also its heartbeat),
then its result or its failure.

A share runs the run its receiver published (the same webhook payload, read into the same
LoadSpec), its part the one plan_shares gives share k of n, split over this replica's worker
processes as any run here. It is not counted in this replica's load metrics: the receiver
counts the merged run once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from loadtester import metrics
from loadtester.errors import LoadtesterError, StoreUnavailable
from loadtester.filepolicy import FilePolicy
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.results.messages import ProgressDelta
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.shares import plan_shares
from loadtester.loadgen.running.sizing import size_workers
from loadtester.loadgen.running.workers import run_load
from loadtester.logs import get_logger
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.state.base import REPLICA_TTL, LoadShares, SharedRun, ShareReport
from loadtester.tasks.load import load_task
from loadtester.tasks.records import REPLICA

__all__ = ["HEARTBEAT", "ShareListener", "serve_shares"]

HEARTBEAT = 1.0  # s between a replica's heartbeats, and between a share's reports
_READ_WAIT = 0.25  # s a read of new runs waits
_AWAY = 1.0  # s between tries while the store does not answer
_FINAL_TRIES = 5  # a share's last report is retried this often while the store is away


class ShareListener:
    """Takes shares of the runs other replicas publish and runs them, until closed."""

    def __init__(self, store: LoadShares, settings: Settings, files: FilePolicy,
                 replica: str = REPLICA) -> None:
        self.store, self.settings, self.files, self.replica = store, settings, files, replica
        self.running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start heartbeating and listening."""
        self._loop_task = asyncio.get_running_loop().create_task(self._listen())

    async def close(self) -> None:
        """Stop listening, end the shares running here (their receivers see them lost), and
        leave the live replicas."""
        tasks = [t for t in (self._loop_task, *self.running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(StoreUnavailable):
            await self.store.leave(self.replica)

    async def _listen(self) -> None:
        cursor, beat = "", 0.0
        log = get_logger(replica=self.replica)
        while True:
            try:
                if time.monotonic() >= beat:
                    beat = time.monotonic() + HEARTBEAT
                    metrics.LOAD_REPLICAS_LIVE.set(
                        await self.store.heartbeat(self.replica, REPLICA_TTL))
                cursor, taken = await self.store.take(self.replica, cursor, _READ_WAIT)
            except StoreUnavailable:
                await asyncio.sleep(_AWAY)
                continue
            except Exception:  # a run this release cannot read: never stop listening
                log.exception("load shares not read")
                await asyncio.sleep(_AWAY)
                continue
            for run, share in taken:
                log.info("load share taken", run=run.id, share=share, shares=run.shares)
                task = asyncio.get_running_loop().create_task(self._run_share(run, share))
                self.running.add(task)
                task.add_done_callback(self.running.discard)

    async def _run_share(self, run: SharedRun, share: int) -> None:
        pending = LoadResult()
        stop, ended = asyncio.Event(), asyncio.Event()

        def on_progress(progress: ProgressDelta) -> None:
            pending.merge(progress.delta)

        def take_pending() -> LoadResult:
            nonlocal pending
            delta, pending = pending, LoadResult()
            return delta

        async def report_progress() -> None:
            while not ended.is_set():
                delta = take_pending()
                try:
                    if not await self.store.report(run.id, ShareReport(
                            share, self.replica, "progress", {"delta": delta.to_wire()})):
                        stop.set()
                except StoreUnavailable:
                    pending.merge(delta)  # sent with the next report
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), HEARTBEAT)

        reporter = asyncio.get_running_loop().create_task(report_progress())
        log = get_logger(replica=self.replica, run=run.id, share=share)
        try:
            try:
                result = await self._run(run, share, on_progress, stop)
            finally:
                ended.set()
                await reporter  # its last report goes out whole
            final = ShareReport(share, self.replica, "done",
                                {"delta": take_pending().to_wire(), "result": result.to_wire()})
        except Exception as exc:  # the receiver learns why, whatever it was
            reason = str(exc) or ("did not end by its deadline" if isinstance(
                exc, TimeoutError) else type(exc).__name__)
            if not isinstance(exc, (LoadtesterError, LoadSpecError, RuntimeError, TimeoutError)):
                log.exception("load share crashed")
            log.warning("load share failed", reason=reason)
            final = ShareReport(share, self.replica, "failed", {"error": reason})
        for _ in range(_FINAL_TRIES):
            try:
                await self.store.report(run.id, final)
                break
            except StoreUnavailable:
                await asyncio.sleep(_AWAY)
        log.info("load share ended", outcome=final.kind)

    async def _run(self, run: SharedRun, share: int,
                   on_progress: Callable[[ProgressDelta], None],
                   stop: asyncio.Event) -> LoadResult:
        """The share's part of the run, from the agreed instant, until its deadline."""
        payload = WebhookPayload.model_validate(run.task)
        task = await asyncio.to_thread(load_task, payload, dict(payload.metadata or {}))
        task = await task.prepared(self.settings, self.files)
        part = plan_shares(task.spec, run.shares)[share]
        workers = size_workers(task.spec, self.settings.load_workers).workers
        start_ns = time.monotonic_ns() + int((run.start_at - time.time()) * 1e9)
        return await asyncio.wait_for(
            run_load(task.spec, workers, on_progress, stop=stop, part=part, start_ns=start_ns),
            max(run.deadline - time.time(), 0.0))


@contextlib.asynccontextmanager
async def serve_shares(store: LoadShares, settings: Settings,
                       files: FilePolicy) -> AsyncIterator[ShareListener | None]:
    """A ShareListener for the app's lifetime where the store is shared by the replicas (None
    where it is not: nothing to listen to)."""
    if store.refusal() is not None:
        yield None
        return
    listener = ShareListener(store, settings, files)
    listener.start()
    try:
        yield listener
    finally:
        await listener.close()
