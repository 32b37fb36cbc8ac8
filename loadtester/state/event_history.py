"""EventRecords out of outbox rows: the rows one event left (one per sink) become one record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from loadtester.event import Event
from loadtester.state.base import EventRecord


@dataclass(frozen=True)
class OutboxRow:
    """What the history needs of one outbox entry."""

    id: int
    event: str  # the stored event, as Event.to_json wrote it
    sink: str
    state: str  # pending | delivered | dead
    attempts: int
    error: str
    received_at: float


def event_records(rows: Iterable[OutboxRow], name: str, namespace: str,
                  limit: int) -> list[EventRecord]:
    """Up to `limit` events of the rows of one lane, read newest first.

    One event's rows were stored in one transaction, so they are adjacent in id order and share
    the stored text (which holds the time it was received). An event that cannot be read back,
    or that belongs to another canary sharing the lane's name, is left out.
    """
    records: list[EventRecord] = []
    text, event = "", None
    for row in rows:
        if row.event != text:
            if len(records) == limit:
                break
            text, event = row.event, Event.from_stored(row.event)
            if event is not None and (event.name, event.namespace) == (name, namespace):
                records.append(EventRecord(str(row.id), name, namespace, event.phase,
                                           event.event_type, event.message, row.received_at,
                                           {}, {}))
            else:
                event = None
        if event is None:
            continue
        record = records[-1]
        state = "retrying" if row.state == "pending" and row.attempts else row.state
        record.deliveries[row.sink] = state
        record.errors[row.sink] = "" if row.state == "delivered" else row.error
        if row.id < int(record.id):  # the event's id: its first row's
            records[-1] = replace(record, id=str(row.id))
    return records
