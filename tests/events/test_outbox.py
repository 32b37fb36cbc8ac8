"""The SQLite outbox on its own: duplicates, folding windows, carried counts, lanes."""

from __future__ import annotations

import sqlite3

from loadtester.events.event import Event
from loadtester.events.outbox import Outbox
from loadtester.models import WebhookPayload
from tests.events.conftest import event


def _outbox() -> Outbox:
    return Outbox(sqlite3.connect(":memory:", isolation_level=None))


def _event(message: str = "Halt advancement", stamp: int = 1, name: str = "podinfo") -> Event:
    payload = WebhookPayload.model_validate(event(message=message, timestamp=stamp, name=name))
    return Event.from_payload(payload, now=1000.0)


def test_duplicate_identity_is_stored_once() -> None:
    """The same identity twice stores nothing the second time."""
    outbox = _outbox()
    first = _event()
    assert outbox.enqueue(first, ["s"], first.identity(), 0, now=1000).queued == ("s",)
    assert outbox.enqueue(first, ["s"], first.identity(), 0, now=1001).duplicate
    assert outbox.counts() == {"pending": 1}


def test_folding_within_and_after_the_window() -> None:
    """Repeats in the window add to the count; the first repeat after it carries the rest."""
    outbox = _outbox()
    for stamp, now in ((1, 1000), (2, 1060)):
        repeat = _event(stamp=stamp)
        outbox.enqueue(repeat, ["s"], repeat.identity(), 300, now=now)
    (lane,) = outbox.lanes()
    row = outbox.get(lane.head)
    assert row is not None and row.count == 2
    outbox.delivered(row.id, row.count, now=1061)
    late = _event(stamp=3)
    assert outbox.enqueue(late, ["s"], late.identity(), 300, now=1120).folded == ("s",)
    after = _event(stamp=4)
    assert outbox.enqueue(after, ["s"], after.identity(), 300, now=1400).queued == ("s",)
    (lane,) = outbox.lanes()
    row = outbox.get(lane.head)
    assert row is not None and row.count == 2  # itself plus the one folded after sending


def test_lanes_are_per_sink_and_canary() -> None:
    """Each (sink, canary) pair is its own lane with its oldest row at the head."""
    outbox = _outbox()
    for stamp, name in enumerate(("a", "b", "a")):
        item = _event(message=f"m{stamp}", stamp=stamp, name=name)
        outbox.enqueue(item, ["s", "t"], item.identity(), 0, now=1000)
    lanes = {(lane.sink, lane.lane): lane.depth for lane in outbox.lanes()}
    assert lanes == {("s", "a.test"): 2, ("t", "a.test"): 2, ("s", "b.test"): 1,
                     ("t", "b.test"): 1}
