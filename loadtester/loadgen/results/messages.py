"""What a run reports as it goes (:class:`ProgressDelta`), and what a worker process and its
parent say over their pipe.

    parent -> worker   Start (once, when every worker is ready), then Stop to end early
    worker -> parent   Ready, WorkerDelta (each interval; the last one with done=True) or
                       WorkerFailed; the parent reads the pipe's end as PipeClosed

The messages are NamedTuples (cheap to define at start-up and to pickle): tell them apart with
isinstance, never with == (every message without fields equals ()).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from loadtester.loadgen.results.histogram import Histogram
from loadtester.loadgen.results.result import LoadResult

__all__ = ["FromWorker", "PipeClosed", "ProgressDelta", "Ready", "Start", "Stop", "ToWorker",
           "WorkerDelta", "WorkerFailed"]


@dataclass(frozen=True)
class ProgressDelta:
    """What one worker saw since its previous snapshot (worker -1: the calling process)."""

    worker: int
    elapsed: float  # seconds since the common start
    delta: LoadResult

    @property
    def status_counts(self) -> dict[int, int]:
        """Responses by status code in this interval."""
        return self.delta.status_counts

    @property
    def errors(self) -> dict[str, int]:
        """Transport errors by kind in this interval."""
        return self.delta.errors

    @property
    def histogram(self) -> Histogram:
        """Latencies recorded in this interval."""
        return self.delta.histogram


class Start(NamedTuple):
    """Send from ``start_ns`` (monotonic ns, the run's common start), nothing due before
    ``resume_ns``; ``requests`` replaces the share's count, after ``claimed`` sent elsewhere."""

    start_ns: int
    resume_ns: int
    requests: int | None
    claimed: int


class Stop(NamedTuple):
    """End early: send nothing more, let the requests in flight finish."""


class Ready(NamedTuple):
    """The worker's connections are open (or failed, to be retried): it waits for Start."""


class WorkerDelta(NamedTuple):
    """Counts since the worker's previous delta (LoadResult and Details in their wire form);
    ``done``: the last one, the worker has finished."""

    result: dict[str, Any]
    details: dict[str, Any]
    done: bool = False


class WorkerFailed(NamedTuple):
    """The worker could not run: a spec its process refused (``bad_spec``), or a crash."""

    message: str
    bad_spec: bool


class PipeClosed(NamedTuple):
    """The worker's pipe ended (the process exited or died)."""


ToWorker = Start | Stop
FromWorker = Ready | WorkerDelta | WorkerFailed | PipeClosed
