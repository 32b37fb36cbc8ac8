"""The built-in load generator: specs, engine, worker processes, results and hey parsing.

The service calls :func:`run_load` with a :class:`LoadSpec` built by
:meth:`LoadSpec.from_metadata` or :meth:`LoadSpec.from_hey_command`, and judges the result
(or a :class:`HeyReport` from :func:`parse_hey_output`) with :meth:`Thresholds.evaluate`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtester.durations import format_duration, parse_go_duration
    from loadtester.loadgen.heyoutput import HeyReport, parse_hey_output
    from loadtester.loadgen.histogram import Histogram
    from loadtester.loadgen.result import ERROR_KINDS, LoadResult, ResultView, Thresholds
    from loadtester.loadgen.spec import LoadSpec, LoadSpecError
    from loadtester.loadgen.workers import (
        LoadGenError,
        ProgressDelta,
        run_load,
        run_load_sync,
    )

# Names load on first use, so `loadtester load` imports only what its run needs.
_HOMES = {
    "format_duration": "loadtester.durations",
    "parse_go_duration": "loadtester.durations",
    "HeyReport": "loadtester.loadgen.heyoutput",
    "parse_hey_output": "loadtester.loadgen.heyoutput",
    "Histogram": "loadtester.loadgen.histogram",
    "ERROR_KINDS": "loadtester.loadgen.result",
    "LoadResult": "loadtester.loadgen.result",
    "ResultView": "loadtester.loadgen.result",
    "Thresholds": "loadtester.loadgen.result",
    "LoadSpec": "loadtester.loadgen.spec",
    "LoadSpecError": "loadtester.loadgen.spec",
    "LoadGenError": "loadtester.loadgen.workers",
    "ProgressDelta": "loadtester.loadgen.workers",
    "run_load": "loadtester.loadgen.workers",
    "run_load_sync": "loadtester.loadgen.workers",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


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
