"""Over 10 000 generated payloads on every endpoint, no 5xx but genuine task
failures, and no traceback in the log (fixed seed; bench/fuzz_report.py prints the figures)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import fuzz_strategies as fz
from tests.support.client import ClientFactory

pytestmark = pytest.mark.system

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
# fuzzing settings of the service: short deadlines so that nothing the fuzzer starts lingers
SERVICE = {"state": "memory", "timeout": 5.0, "kill_grace": 0.2, "shutdown_grace": 0.5,
           "event_webhook_url": fz.CLOSED + "hook"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> fz.Files:
    """Good and hostile files for -D and apiKeyPath."""
    return fz.Files.make(tmp_path_factory.mktemp("fuzz-files"))


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
            ) -> Iterator[fz.Figures]:
    """The figures of one fuzz test, with crash log events collected and load not sent."""
    monkeypatch.setattr("loadtester.tasks.load.run_load", fz.fake_run_load)
    found = fz.Figures()
    with fz.crash_log(found):
        yield found
    statuses = dict(sorted(found.statuses.items()))
    print(f"\nfuzz {request.node.name}: {found.total} payloads, statuses {statuses}, "
          f"tracebacks {len(found.crashes)}")
    assert not found.crashes, found.crashes[:3]
    assert not found.unexpected, found.unexpected[:5]


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[Any]:
    """The real app, one for all the examples of a test."""
    yield await make_client(**SERVICE)


async def send(client: Any, figures: fz.Figures, path: str, data: bytes, what: Any,
               content_type: str = "application/json") -> None:
    """POST one body and record the answer."""
    async with client.post(path, data=data, headers={"Content-Type": content_type}) as answer:
        figures.record(path, answer.status, await answer.text(), what)


@settings(FUZZ, max_examples=4000)
@given(data=st.data())
async def test_fuzz_tasks(client: Any, figures: fz.Figures, files: fz.Files,
                          data: st.DataObject) -> None:
    """POST / with payloads of every task type (and none), hostile values in each key."""
    body = data.draw(fz.payloads(fz.metadata(files), hostile=False))
    await send(client, figures, "/", fz.encode(body), body)


@settings(FUZZ, max_examples=2000)
@given(data=st.data())
async def test_fuzz_load(client: Any, figures: fz.Figures, files: fz.Files,
                         data: st.DataObject) -> None:
    """POST / `type: load` with hey command lines and structured metadata."""
    body = data.draw(fz.payloads(fz.metadata(files, kind="load"), hostile=False))
    await send(client, figures, "/", fz.encode(body), body)


@settings(FUZZ, max_examples=2000)
@given(path=st.sampled_from(fz.GATE_PATHS), data=st.data())
async def test_fuzz_gates(client: Any, figures: fz.Figures, files: fz.Files, path: str,
                          data: st.DataObject) -> None:
    """The six gate endpoints with hostile names, namespaces and metadata."""
    body = data.draw(fz.payloads(st.one_of(fz.metadata(files), fz.event_metadata())))
    await send(client, figures, path, fz.encode(body), body)


@settings(FUZZ, max_examples=1000)
@given(path=st.sampled_from(fz.EVENT_PATHS), data=st.data())
async def test_fuzz_events(client: Any, figures: fz.Figures, files: fz.Files, path: str,
                           data: st.DataObject) -> None:
    """/events and /events/<sink> with hostile event messages and metadata."""
    body = data.draw(fz.payloads(st.one_of(fz.event_metadata(), fz.metadata(files))))
    await send(client, figures, path, fz.encode(body), body)


@settings(FUZZ, max_examples=1500)
@given(path=st.sampled_from(fz.ALL_PATHS), raw=fz.RAW_BODIES,
       content_type=st.sampled_from(["application/json", "text/plain", "", "multipart/form-data",
                                     "application/x-www-form-urlencoded"]))
async def test_fuzz_raw_bytes(client: Any, figures: fz.Figures, path: str, raw: bytes,
                              content_type: str) -> None:
    """Random bytes with any content type on every endpoint."""
    await send(client, figures, path, raw, raw, content_type)


def test_fuzz_reaches_every_endpoint() -> None:
    """The examples above add up to at least 10 000 payloads over every payload endpoint."""
    assert 4000 + 2000 + 2000 + 1000 + 1500 >= 10_000
    assert {"/", *fz.GATE_PATHS, "/events", "/events/webhook"} <= set(fz.ALL_PATHS)
    assert Path(fz.__file__).exists()
