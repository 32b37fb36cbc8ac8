"""A run split over processes: each one's :class:`WorkerShare` of connections, rate and
requests, with interleaved schedules."""

from __future__ import annotations

from dataclasses import dataclass

from loadtester.loadgen.input.spec import LoadSpec

__all__ = ["WorkerShare", "plan_shares", "split_requests"]


@dataclass(frozen=True)
class WorkerShare:
    """One process's part of a run: its connections, rate, requests and schedule phase."""

    concurrency: int
    rate: float = 0.0
    requests: int | None = None
    offset: float = 0.0  # seconds after the common start of this worker's first request
    index: int = 0  # this worker's number: it sends the run's requests index, index+workers...
    workers: int = 1


def plan_shares(spec: LoadSpec, workers: int,
                within: WorkerShare | None = None) -> list[WorkerShare]:
    """Split concurrency, rate and request count over at most ``workers`` processes: of the
    whole run, or of ``within``, one replica's share of it (a run spread over replicas: its
    processes send the requests ``within.index + within.workers * j`` of the whole run, so all
    of them together send the interleaving one process would)."""
    whole = within or WorkerShare(concurrency=spec.concurrency, rate=spec.rate,
                                  requests=spec.total_requests)
    n = max(1, min(workers, whole.concurrency))
    total = whole.requests if spec.total_requests is not None else None
    if total is not None:
        n = max(1, min(n, total))
    shares = []
    for k in range(n):
        conc = whole.concurrency // n + (1 if k < whole.concurrency % n else 0)
        reqs = None if total is None else total // n + (1 if k < total % n else 0)
        rate = whole.rate / n
        index = whole.index + k * whole.workers
        # interleave the schedules: worker k's requests fall between the others'
        offset = index / spec.rate if spec.rate > 0 else 0.0
        shares.append(WorkerShare(concurrency=conc, rate=rate, requests=reqs, offset=offset,
                                  index=index, workers=whole.workers * n))
    return shares


def split_requests(total: int, parts: int) -> list[int | None]:
    """``total`` requests over ``parts`` workers, as plan_shares splits them."""
    total = max(total, 0)
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]
