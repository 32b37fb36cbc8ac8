"""A compare run's engine in one process: the canary's engine and the primary's side by side,
started at the same instant with the same share, so request *i* leaves for both targets at the
same scheduled time, each on its own connections (factory.py builds it for a spec with
``compare``). Both engines keep their raw latencies for the verdict's Mann-Whitney test, each
process up to its part of ``SAMPLE_CAP`` per target (results/result.py)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.results.result import SAMPLE_CAP

if TYPE_CHECKING:
    from loadtester.loadgen.results.details import Details
    from loadtester.loadgen.results.result import LoadResult
    from loadtester.loadgen.running.engine import Engine

__all__ = ["PairedEngine"]


class PairedEngine:
    """Two engines with one schedule: ``canary`` (its results, with the primary's attached as
    ``LoadResult.primary``) and ``primary`` (the compare target)."""

    def __init__(self, canary: Engine, primary: Engine) -> None:
        self.canary = canary
        self.primary = primary
        for engine in (canary, primary):  # this process's part: the run's stays in the cap
            engine.keep_samples(SAMPLE_CAP // engine.share.workers)

    @property
    def start_ns(self) -> int:
        """When the first request was due (0: not started)."""
        return self.canary.start_ns

    async def prepare(self) -> None:
        """Open both targets' connections; a compare target without an address fails the run
        (``compare target unreachable: cannot resolve ...``)."""
        await self.canary.prepare()
        try:
            await self.primary.prepare()
        except LoadSpecError as exc:
            raise LoadSpecError(f"compare target unreachable: {exc}") from None

    async def run(self, start_ns: int, resume_ns: int = 0, requests: int | None = None,
                  claimed: int = 0) -> None:
        """Both engines' runs from the same ``start_ns`` (see Engine.run)."""
        await asyncio.gather(self.canary.run(start_ns, resume_ns, requests, claimed),
                             self.primary.run(start_ns, resume_ns, requests, claimed))

    def stop(self, at_ns: int = 0) -> int:
        """End both early; returns the requests the canary's engine claimed."""
        self.primary.stop(at_ns)
        return self.canary.stop(at_ns)

    def shutdown(self) -> None:
        """Cancel both engines' timers and close their connections."""
        self.canary.shutdown()
        self.primary.shutdown()

    def take_all(self) -> tuple[LoadResult, Details]:
        """The canary's counts since the previous call with the primary's as ``primary``, and
        the canary's phase details."""
        result, details = self.canary.take_all()
        result.primary = self.primary.take_all()[0]
        return result, details
