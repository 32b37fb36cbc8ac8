"""Parsing of caller input that can take more than a millisecond (a scenario's YAML and its
interleaving, a payload over 64 KiB, a long command line split as a shell would) runs in a
small pool of threads beside the event loop; small input stays inline, where a thread hop
would cost more than the parse.

Two threads, not the default executor's six: a thread parsing in Python gives the GIL back
every switch interval (5 ms), and the loop waits behind each busy thread in turn.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from aiohttp import web

__all__ = [
    "INLINE_LIMIT",
    "PARSERS",
    "PARSER_THREAD_PREFIX",
    "is_large",
    "parse",
    "parser_threads",
]

INLINE_LIMIT = 64 * 1024  # bytes of input parsed on the loop; json.loads of this is ~1 ms
PARSE_THREADS = 2
PARSER_THREAD_PREFIX = "loadtester-parse"
PARSERS = web.AppKey("parsers", ThreadPoolExecutor)

P = ParamSpec("P")
T = TypeVar("T")


async def parser_threads(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx resource: the parser threads; one starts now (a thread's start can take
    milliseconds on a busy machine, which the first large request would wait for on the loop),
    the other on first concurrent use."""
    executor = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix=PARSER_THREAD_PREFIX)
    await asyncio.get_running_loop().run_in_executor(executor, int)
    app[PARSERS] = executor
    yield
    executor.shutdown(wait=False, cancel_futures=True)


def is_large(size: int) -> bool:
    """True for input too large to parse on the loop."""
    return size > INLINE_LIMIT


async def parse(app: web.Application, costly: bool, func: Callable[P, T],
                *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)``: in a parser thread when ``costly``, else inline; with the
    caller's context variables (log fields) either way."""
    if not costly:
        return func(*args, **kwargs)
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(app[PARSERS], call)
