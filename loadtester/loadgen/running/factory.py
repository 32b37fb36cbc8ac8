"""The engine for a spec: HTTP/2 runs on h2engine's, a scenario's mix on MixEngine,
everything else on Engine."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.engine import Engine
from loadtester.loadgen.running.shares import WorkerShare

if TYPE_CHECKING:
    from loadtester.loadgen.running.paired import PairedEngine

__all__ = ["new_engine"]


def new_engine(spec: LoadSpec, share: WorkerShare) -> Engine | PairedEngine:
    """An engine that runs ``share`` of ``spec`` on the running event loop (a compare run:
    a PairedEngine, the canary's and the primary's side by side)."""
    if spec.compare is not None:
        from loadtester.loadgen.running.paired import PairedEngine

        canary = dataclasses.replace(spec, compare=None, compare_mix=None)
        return PairedEngine(_single(canary, share),
                            _single(spec.compare_spec(), share))
    return _single(spec, share)


def _single(spec: LoadSpec, share: WorkerShare) -> Engine:
    if spec.h2 or spec.h2c:
        from loadtester.loadgen.running.h2engine import new_h2_engine

        return new_h2_engine(spec, share)
    if spec.mix is not None:
        # loaded here: a plain run starts without the mix's modules
        from loadtester.loadgen.running.mixengine import MixEngine

        return MixEngine(spec, share)
    return Engine(spec, share)
