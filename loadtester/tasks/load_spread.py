"""A `type: load` run spread over the replicas (metadata `replicas`): the receiving replica
publishes it, runs share 0 itself and merges what the other shares report back.

Share k of n is the same arithmetic as a worker process's share (running/shares.py): request
g of the whole run goes to share g mod n, stages and scenarios included, from one agreed
instant. Each share's replica splits its part over its own worker processes as for any run.
Merging sums counts and histogram buckets, so the merged percentiles are what one process
would report for the same answers. A share that stops reporting for LOST_AFTER seconds is
lost; the run fails then, unless allowPartial.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtester import metrics
from loadtester.errors import BadRequest, Conflict, StoreUnavailable
from loadtester.excerpt import excerpt
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.messages import ProgressDelta
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.shares import WorkerShare, plan_shares
from loadtester.loadgen.running.workers import run_load
from loadtester.state.base import LoadShares, SharedRun, ShareReport

__all__ = ["LOST_AFTER", "Spread", "count_replicas", "parse_replicas", "replicas_note",
           "run_spread", "start_lead"]

LOST_AFTER = 5.0  # s without a report from a share's replica: it stopped answering
START_LEAD = 1.0  # s from publishing a run to its start: every replica reads it in 0.25 s
WORKER_LEAD = 1.5  # s more when worker processes start first (about a second each)
END_MARGIN = 15.0  # s past the schedule's end before nobody waits for a share any more
_IDLE = 0.2  # s between reads when the store does not answer


def start_lead(workers: int) -> float:
    """Seconds between publishing a run and its agreed start."""
    return START_LEAD + (WORKER_LEAD if workers else 0.0)


@dataclass
class _Share:
    """What the receiver knows of one share."""

    part: WorkerShare
    replica: str = ""
    state: str = "running"  # running | done | lost | failed | missing
    reason: str = ""
    heard: float = 0.0  # time.monotonic() of its last report (0: none yet)
    elapsed: float = 0.0
    result: LoadResult = field(default_factory=LoadResult)  # summed deltas, then its result

    def to_json(self, shares: int) -> dict[str, Any]:
        doc: dict[str, Any] = {"replica": self.replica, "share": self.part.index,
                               "shares": shares, "requests": self.result.total,
                               "state": self.state}
        if self.reason:
            doc["reason"] = self.reason
        return doc


@dataclass(frozen=True)
class Spread:
    """A spread run's merged result, its shares (``fields["replicas"]``) and why it failed
    (a share lost or failed, without allowPartial), if it did."""

    result: LoadResult
    replicas: list[dict[str, Any]]
    broken: str | None


class _Receiver:
    """Reads the shares' reports until every remote share ended, was lost or failed."""

    def __init__(self, spec: LoadSpec, run: SharedRun, store: LoadShares,
                 on_progress: Callable[[ProgressDelta], None]) -> None:
        self.spec, self.run, self.store, self.on_progress = spec, run, store, on_progress
        self.shares = [_Share(part) for part in plan_shares(spec, run.shares)]
        now = time.monotonic()
        self.start = now + (run.start_at - time.time())
        self.deadline = now + (run.deadline - time.time())

    async def collect(self) -> None:
        cursor = ""
        while any(s.state == "running" for s in self.shares[1:]):
            try:
                cursor, reports = await self.store.reports(self.run.id, cursor, wait=0.25)
            except StoreUnavailable:
                reports = []
                await asyncio.sleep(_IDLE)
            for report in reports:
                self._apply(report)
            await self._look_for_lost()

    def _apply(self, report: ShareReport) -> None:
        if not 0 < report.share < len(self.shares):
            return
        share = self.shares[report.share]
        if share.state != "running":
            return
        share.replica, share.heard = report.replica, time.monotonic()
        if "delta" in report.body:
            delta = LoadResult.from_wire(report.body["delta"])
            share.result.merge(delta)
            share.elapsed = max(share.elapsed, delta.elapsed)
            self.on_progress(ProgressDelta(worker=-1 - report.share, elapsed=delta.elapsed,
                                           delta=delta))
        if report.kind == "done":
            share.result = LoadResult.from_wire(report.body["result"])
            share.state = "done"
        elif report.kind == "failed":
            share.state = "failed"
            share.reason = (f"share {report.share + 1}/{self.run.shares} failed on replica "
                            f"{report.replica}: {report.body.get('error', 'no reason given')}")

    async def _look_for_lost(self) -> None:
        now = time.monotonic()
        for k, share in enumerate(self.shares[1:], start=1):
            if share.state != "running":
                continue
            silent = now - (share.heard or self.start)
            if silent <= LOST_AFTER and now <= self.deadline:
                continue
            if not share.heard:
                with contextlib.suppress(StoreUnavailable):
                    share.replica = (await self.store.owners(self.run.id)).get(k, "")
            if not share.replica:
                share.state = "missing"
                share.reason = (f"share {k + 1}/{self.run.shares} missing: no replica took it "
                                "before the start")
                continue
            share.state = "lost"
            why = "stopped answering" if now <= self.deadline else "did not finish in time"
            share.reason = (f"share {k + 1}/{self.run.shares} lost: replica {share.replica} {why}; "
                            f"{self._sent_percent(share)} % of the schedule sent")

    def _sent_percent(self, share: _Share) -> int:
        if self.spec.duration is not None:
            done = share.elapsed / self.spec.duration
        else:
            done = share.result.total / (share.part.requests or 1)
        return int(100 * min(max(done, 0.0), 1.0))


async def run_spread(spec: LoadSpec, task: dict[str, Any], store: LoadShares, replica: str,
                     shares: int, workers: int, on_progress: Callable[[ProgressDelta], None],
                     *, allow_partial: bool, limit: float) -> Spread:
    """Run ``spec`` over ``shares`` replicas, this one (``replica``) with share 0 in
    ``workers`` processes; ``task`` (the webhook payload as JSON) is what the others run.
    Nobody waits past the schedule's end plus END_MARGIN (or ``limit`` s)."""
    start_at = time.time() + start_lead(workers)
    expected = spec.duration
    if expected is None:
        expected = (spec.total_requests or 0) / spec.rate if spec.rate > 0 else limit
    run = SharedRun(uuid.uuid4().hex, shares, start_at,
                    start_at + min(limit, expected + END_MARGIN), task)
    await store.publish(run, replica)
    receiver = _Receiver(spec, run, store, on_progress)
    mine = receiver.shares[0]
    mine.replica = replica
    start_ns = time.monotonic_ns() + int((start_at - time.time()) * 1e9)
    local = asyncio.ensure_future(run_load(spec, workers, on_progress, part=mine.part,
                                           start_ns=start_ns))
    try:
        await receiver.collect()
        mine.result = await local
        mine.state = "done"
    finally:
        if not local.done():
            local.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await local
        if any(s.state == "running" for s in receiver.shares):
            with contextlib.suppress(StoreUnavailable):
                await store.stop(run.id)
    merged = LoadResult(target_rate=spec.rate)
    for share in receiver.shares:
        merged.merge(share.result)
        metrics.LOAD_SHARES.labels(share.state).inc()
    missed = next((s.reason for s in receiver.shares if s.state != "done"), None)
    return Spread(merged, [s.to_json(shares) for s in receiver.shares],
                  broken=None if allow_partial else missed)


async def count_replicas(spec: LoadSpec, wanted: int, shares: LoadShares | None) -> int:
    """How many replicas a run asking for ``wanted`` (0: all live) gets: BadRequest where the
    store is not shared by the replicas or the run has fewer connections (or requests) than
    shares, Conflict when fewer replicas are live than asked."""
    refusal = "replicas needs -state=redis://…" if shares is None else shares.refusal()
    if refusal is not None or shares is None:
        raise BadRequest(refusal or "")
    live = await shares.live()
    wanted = wanted or live
    if wanted > live:
        raise Conflict(f"replicas {wanted}: only {live} replica"
                       f"{'s are' if live != 1 else ' is'} live")
    limits = [("concurrency", spec.concurrency)]
    if spec.total_requests is not None:
        limits.append(("requests", spec.total_requests))
    for what, have in limits:
        if have < wanted:
            raise BadRequest(f"replicas {wanted} needs at least {wanted} {what}, one per "
                             f"share: got {have}")
    return wanted


def parse_replicas(metadata: Mapping[str, str]) -> int | None:
    """Metadata `replicas`: a positive integer, or `all` (0); None when not given."""
    text = metadata.get("replicas", "").strip()
    if not text:
        return None
    if text.lower() == "all":
        return 0
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise BadRequest(f"metadata replicas {excerpt(text)} is not a positive integer or all")
    return int(text)


def replicas_note(fields: Mapping[str, object]) -> str:
    """``; 3 replicas`` after a spread run's summary (``; 2 of 3 replicas: share 2/3 lost:
    ...`` when allowPartial let a lost share pass), nothing after any other."""
    shares = fields.get("replicas")
    if not isinstance(shares, list):
        return ""
    missed = [s for s in shares if isinstance(s, dict) and s.get("state") != "done"]
    if not missed:
        return f"; {len(shares)} replicas"
    return (f"; {len(shares) - len(missed)} of {len(shares)} replicas: "
            + "; ".join(str(s.get("reason", "")) for s in missed))
