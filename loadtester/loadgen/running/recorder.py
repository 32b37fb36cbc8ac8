"""The counts an engine keeps for the current interval (:class:`Recorder`), swapped out at
each snapshot; a scenario's engine keeps one per request."""

from __future__ import annotations

from array import array

from loadtester.loadgen.results.details import Details
from loadtester.loadgen.results.histogram import Histogram
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.samples import SampleBudget, SampledHistogram

__all__ = ["Recorder"]


class Recorder:
    """Counts of the current interval, swapped out at each snapshot."""

    __slots__ = ("checks", "codes", "details", "errors", "hist", "rejected", "retried", "stages")

    def __init__(self, stages: int = 0, samples: SampleBudget | None = None) -> None:
        self.codes = array("q", bytes(8 * 1000))  # by status code; a C array once compiled
        self.errors: dict[str, int] = {}
        # a compare run's (``samples``: its engine's budget) also keeps the raw latencies
        self.hist = Histogram() if samples is None else SampledHistogram(samples)
        self.retried = 0
        self.details = Details()
        self.checks: dict[str, int] = {}  # failed response checks by kind (a scenario's)
        self.rejected = 0  # answers below 500 that failed a check
        self.stages = [0] * stages  # requests sent in each stage (a staged run)

    def error(self, kind: str) -> None:
        """Count one transport error."""
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def to_result(self) -> LoadResult:
        """These counts as a LoadResult (elapsed left at 0)."""
        codes = {code: n for code, n in enumerate(self.codes) if n}
        result = LoadResult(
            status_counts=codes, errors=dict(self.errors), histogram=self.hist,
            retried=self.retried, checks=self.checks, rejected=self.rejected,
        )
        hist = self.hist
        if isinstance(hist, SampledHistogram):
            result.samples = None if hist.over else hist.samples
            result.samples_over = hist.over
        return result
