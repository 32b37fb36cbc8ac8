"""The engine for a spec: a scenario's mix runs on MixEngine, everything else on Engine."""

from __future__ import annotations

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.engine import Engine
from loadtester.loadgen.running.shares import WorkerShare

__all__ = ["new_engine"]


def new_engine(spec: LoadSpec, share: WorkerShare) -> Engine:
    """An engine that runs ``share`` of ``spec`` on the running event loop."""
    if spec.mix is not None:
        # loaded here: a plain run starts without the mix's modules
        from loadtester.loadgen.running.mixengine import MixEngine

        return MixEngine(spec, share)
    return Engine(spec, share)
