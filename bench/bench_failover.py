#!/usr/bin/env python3
"""What a Sentinel failover loses of the changes the service acknowledged, with and without
-state-min-replicas=1, and what the flag costs a gate change.

    python bench/bench_failover.py              # 3 rounds of each case
    python bench/bench_failover.py --rounds 5 --lag 0.5

Each round (tests/support/failover_loss.py): Debian redis-server primary and replica, three
redis-sentinel, two `python -m loadtester -state=redis+sentinel://…` processes; a loop of gate
opens, gate closes and POST /events alternating the two, the primary killed with SIGKILL,
then every change answered 2xx read back after the promotion. Cases: the replica in step
(loopback: about 0.1 ms behind), and the replication stream held back `--lag` s before the
kill (a lagging replica). The cost: the median time of a gate change (POST /gate/open) over
one service, with and without the flag, the replica in step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import REPO  # noqa: F401 - puts the checkout on sys.path

from tests.support.failover_loss import measure
from tests.support.redis_sentinel import SentinelGroup
from tests.support.service import Services, fetch

CHANGES = 500


def change_latency(min_replicas: int) -> float:
    """Median milliseconds of a POST /gate/open (a new gate each time), one client."""
    with tempfile.TemporaryDirectory() as tmp:
        group = SentinelGroup(Path(tmp) / "sentinel").start()
        services = Services(Path(tmp))
        try:
            flags = [f"-state={group.url()}", "-log-level=warning"]
            if min_replicas:
                flags.append(f"-state-min-replicas={min_replicas}")
            service = services.start(*flags)
            service.wait_healthy()
            took = []
            for i in range(CHANGES):
                body = {"name": f"g{i}", "namespace": "bench", "checksum": "abc"}
                began = time.perf_counter()
                if fetch(service.port, "/gate/open", body).status != 202:
                    raise SystemExit(f"gate g{i} not opened")
                took.append((time.perf_counter() - began) * 1000)
            return statistics.median(took)
        finally:
            services.close()
            group.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lag", type=float, default=0.5,
                        help="seconds the replication is held back before the kill")
    args = parser.parse_args()
    for lag in (0.0, args.lag):
        for min_replicas in (0, 1):
            for number in range(1, args.rounds + 1):
                with tempfile.TemporaryDirectory() as tmp:
                    figures = measure(Path(tmp), min_replicas, lag)
                print(f"lag {lag:g} s, -state-min-replicas={min_replicas}, round {number}: "
                      f"{figures.line()}", flush=True)
    for min_replicas in (0, 1):
        print(f"gate change, -state-min-replicas={min_replicas}: median "
              f"{change_latency(min_replicas):.2f} ms over {CHANGES}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
