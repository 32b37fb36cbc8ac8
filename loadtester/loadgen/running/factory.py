"""The engine for a spec: HTTP/2 runs on h2engine's, a scenario's mix on MixEngine,
everything else on Engine."""

from __future__ import annotations

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.engine import Engine
from loadtester.loadgen.running.shares import WorkerShare

__all__ = ["new_engine"]


def new_engine(spec: LoadSpec, share: WorkerShare) -> Engine:
    """An engine that runs ``share`` of ``spec`` on the running event loop."""
    if spec.h2 or spec.h2c:
        from loadtester.loadgen.running.h2engine import new_h2_engine

        return new_h2_engine(spec, share)
    if spec.mix is not None:
        # loaded here: a plain run starts without the mix's modules
        from loadtester.loadgen.running.mixengine import MixEngine

        return MixEngine(spec, share)
    return Engine(spec, share)
