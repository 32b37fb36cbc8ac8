"""The built-in load generator: specs, engine, worker processes, results and hey parsing.

The service calls :func:`run_load` with a :class:`LoadSpec` built by
:meth:`LoadSpec.from_metadata` or :meth:`LoadSpec.from_hey_command`, and judges the result
(or a :class:`HeyReport` from :func:`parse_hey_output`) with :meth:`Thresholds.evaluate`.
"""

from __future__ import annotations

from loadtester.durations import format_duration, parse_go_duration
from loadtester.loadgen.heyoutput import HeyReport, parse_hey_output
from loadtester.loadgen.histogram import Histogram
from loadtester.loadgen.result import ERROR_KINDS, LoadResult, ResultView, Thresholds
from loadtester.loadgen.spec import LoadSpec, LoadSpecError
from loadtester.loadgen.workers import LoadGenError, ProgressDelta, run_load, run_load_sync

__all__ = [
    "ERROR_KINDS",
    "HeyReport",
    "Histogram",
    "LoadGenError",
    "LoadResult",
    "LoadSpec",
    "LoadSpecError",
    "ProgressDelta",
    "ResultView",
    "Thresholds",
    "format_duration",
    "parse_go_duration",
    "parse_hey_output",
    "run_load",
    "run_load_sync",
]
