"""A compare run's raw latencies: :class:`SampledHistogram`, a Histogram that also keeps each
value it counts while its engine's :class:`SampleBudget` lasts.

Only the engines of a compare run (paired.py) record into one: every other run's Recorder
keeps a plain Histogram, so the single-target hot path does not change. Past the budget the
histogram stops keeping values and says so (``over``): the verdict then falls back to the
histograms (results/verdict.py, docs/load.md).
"""

from __future__ import annotations

from array import array

from loadtester.loadgen.results.histogram import Histogram

__all__ = ["SampleBudget", "SampledHistogram"]


class SampleBudget:
    """How many more raw latencies an engine may keep (shared by its recorders, across
    intervals)."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


class SampledHistogram(Histogram):
    """A Histogram keeping its values (integer µs, as recorded) in ``samples`` while
    ``budget`` lasts; ``over`` once a value was not kept."""

    __slots__ = ("budget", "over", "samples")

    def __init__(self, budget: SampleBudget) -> None:
        super().__init__()
        self.budget = budget
        self.samples = array("q")
        self.over = False

    def record(self, value_us: int) -> None:
        """Count one value, and keep it while the budget lasts."""
        Histogram.record(self, value_us)
        budget = self.budget
        if budget.left > 0:
            budget.left -= 1
            self.samples.append(value_us)
        else:
            self.over = True
