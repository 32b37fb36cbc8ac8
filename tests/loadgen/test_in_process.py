"""run_load with no worker process: the run goes on the caller's event loop, and a timeout or a
cancel still ends it as one (the service's -timeout relies on it)."""

from __future__ import annotations

import asyncio
import os

import pytest

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.workers import run_load
from tests.support.processes import children
from tests.support.servers import Reply, ServerFactory


async def test_slow_run_goes_on_the_callers_loop(serve: ServerFactory) -> None:
    """A 40 req/s run, sized by default, sends every request without starting a process."""
    server = await serve(lambda n: Reply())
    spec = LoadSpec(url=server.url, rate=40, concurrency=4, duration=0.5)
    before = children(os.getpid())  # multiprocessing's resource tracker, after other tests
    run = asyncio.ensure_future(run_load(spec))
    while not server.answered:
        await asyncio.sleep(0.01)
    assert children(os.getpid()) == before
    result = await run
    assert result.total == 20 == sum(server.answered.values())


async def test_timeout_of_a_run_here_is_a_timeout(serve: ServerFactory) -> None:
    """wait_for's timeout raises TimeoutError, not the partial result, and the connections
    close."""
    server = await serve(lambda n: Reply())
    spec = LoadSpec(url=server.url, rate=20, concurrency=2, duration=30)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(run_load(spec, 0), 0.3)
    sent = server.requests
    await asyncio.sleep(0.3)  # at 20/s, six more requests if the run went on
    assert 0 < sent == server.requests
