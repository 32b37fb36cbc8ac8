"""A run split over replicas, then each replica's share over its processes, is the one
schedule of the whole run; the shares' results merge into exactly what one process reports."""

from __future__ import annotations

import random
import time

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.histogram import Histogram
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.shares import WorkerShare, plan_shares
from loadtester.loadgen.running.workers import run_load
from tests.support.servers import Reply, ServerFactory


def _requests(share: WorkerShare, count: int) -> list[int]:
    """The run's numbers of the requests `share` sends, of the first `count`."""
    return list(range(share.index, count, share.workers))


def test_replica_then_worker_shares_interleave_into_the_whole_run() -> None:
    """3 replicas x 2 processes send every request of the run once, each when it is due."""
    spec = LoadSpec(url="http://x/", rate=900, duration=3, concurrency=31)
    processes = [p for part in plan_shares(spec, 3) for p in plan_shares(spec, 2, part)]
    assert len(processes) == 6
    sent = sorted(g for p in processes for g in _requests(p, 2700))
    assert sent == list(range(2700))
    for p in processes:
        assert p.workers == 6 and p.offset == p.index / spec.rate
        assert abs(p.rate - spec.rate / 6) < 1e-9
    assert sum(p.concurrency for p in processes) == 31


def test_request_counts_split_without_loss() -> None:
    """A run of 1001 requests over 3 replicas of 2 processes: 1001 requests in all."""
    spec = LoadSpec(url="http://x/", requests=1001, concurrency=12, rate=100)
    parts = plan_shares(spec, 3)
    assert [p.requests for p in parts] == [334, 334, 333]
    processes = [p for part in parts for p in plan_shares(spec, 2, part)]
    assert sum(p.requests or 0 for p in processes) == 1001
    assert plan_shares(spec, 3, None) == plan_shares(spec, 3)  # no part: the whole run


def test_merged_histograms_equal_one_histogram_of_all_samples() -> None:
    """Samples split g mod 3 into three results merge to the one result of all of them:
    the same buckets, so the same percentiles."""
    rng = random.Random(20)
    samples = [int(rng.lognormvariate(7, 1.2)) for _ in range(30_000)]
    whole = LoadResult(status_counts={200: len(samples)})
    parts = [LoadResult(status_counts={200: 0}) for _ in range(3)]
    for g, value in enumerate(samples):
        whole.histogram.record(value)
        parts[g % 3].histogram.record(value)
        parts[g % 3].status_counts[200] += 1
    merged = LoadResult()
    for part in parts:
        merged.merge(LoadResult.from_wire(part.to_wire()))  # as they travel through Redis
    assert merged.histogram.counts == whole.histogram.counts
    assert merged.status_counts == whole.status_counts
    for p in (1, 50, 90, 99, 99.9, 100):
        assert merged.histogram.percentile(p) == whole.histogram.percentile(p)
    assert merged.to_json()["latency"] == whole.to_json()["latency"]
    single = Histogram()
    single.merge(whole.histogram)
    assert repr(single) == repr(merged.histogram)


async def test_parts_run_here_send_the_whole_run(serve: ServerFactory) -> None:
    """Each of 3 parts run in this process from one instant sends its third; together they
    send every request of the run."""
    server = await serve(lambda n: Reply())
    spec = LoadSpec(url=server.url, rate=300, requests=60, concurrency=6)
    start_ns = time.monotonic_ns() + 50_000_000
    merged = LoadResult()
    for part in plan_shares(spec, 3):
        result = await run_load(spec, 0, part=part, start_ns=start_ns)
        assert result.total == 20
        merged.merge(result)
    assert merged.total == 60 == sum(server.answered.values())
