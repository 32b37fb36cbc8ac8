"""The kinds of state the service keeps, one protocol each, and what they hand back.

Every backend (memory, SQLite, Redis) implements all of them; handlers, the task runner and the
event dispatcher see only these protocols. Every method may raise StoreUnavailable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from loadtester.events.event import Event

# a closed gate is forgotten this long after its last change
KEEP_CLOSED_GATES = 7 * 24 * 3600.0
# a background task's claim lapses this long after its last renewal (its replica died)
LEASE_SECONDS = 12.0
# a delivery attempt holds its lane this long; a replica killed during it is taken over then
DELIVERY_LEASE_SECONDS = 20.0
KEEP_EVENT_KEYS = 24 * 3600.0
KEEP_DEAD_EVENTS = 7 * 24 * 3600.0


def gate_key(name: str, namespace: str) -> str:
    """The Go service's key of a canary's gate."""
    return f"{name}.{namespace}"


def rollback_key(name: str, namespace: str) -> str:
    """The Go service's key of a canary's rollback switch."""
    return f"rollback.{name}.{namespace}"


@dataclass(frozen=True)
class GateChange:
    """A gate's state, who set it and for which canary."""

    is_open: bool
    by: str = ""
    checksum: str = ""
    at: float = 0.0
    name: str = ""
    namespace: str = ""


class GateStore(Protocol):
    """Gates and rollback gates; closed is the state of any key never opened."""

    async def is_open(self, key: str) -> bool: ...

    async def set(self, key: str, change: GateChange) -> None:
        """Record a change; a closed gate is forgotten KEEP_CLOSED_GATES after it."""
        ...

    async def get(self, key: str) -> GateChange | None: ...

    async def open_counts(self) -> dict[str, int]:
        """How many gates are open, by kind: `gate` and `rollback`."""
        ...


@dataclass(frozen=True)
class Failure:
    """Why the last run of a background task failed, and for which revision."""

    reason: str
    checksum: str


class TaskLedger(Protocol):
    """Background tasks across replicas: who runs what (a lease), and how it ended."""

    async def claim(self, key: str, canary: str, owner: str, ttl: float) -> bool:
        """Take the lease of `key` unless someone holds it."""
        ...

    async def renew(self, keys: Iterable[str], owner: str, ttl: float) -> set[str]:
        """Extend `owner`'s leases; returns the keys it no longer holds (revoked or lost)."""
        ...

    async def release(self, key: str, owner: str, failure: Failure | None) -> None:
        """Give the lease up, keeping the run's failure (if any) for take_failure."""
        ...

    async def take_failure(self, key: str) -> Failure | None:
        """The failure of the last run, handed out exactly once."""
        ...

    async def revoke(self, canary: str) -> int:
        """Drop every lease of a canary (its release ended); owners stop at their renewal."""
        ...


@dataclass(frozen=True)
class Enqueued:
    """What storing one event did."""

    duplicate: bool = False
    queued: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """The head of a lane (sink + canary), leased to one delivery attempt.

    `event` is None when the stored event cannot be read back: it can only be dead-lettered.
    """

    id: str
    sink: str
    lane: str
    event: Event | None
    count: int
    attempts: int
    received_at: float


class EventQueue(Protocol):
    """The durable outbox: one entry per (event, sink), delivered in order per lane."""

    async def enqueue(self, event: Event, sinks: Iterable[str], identity: str,
                      fold_window: float, now: float) -> Enqueued:
        """Store the event for each sink unless its identity was seen; fold repeats."""
        ...

    async def sinks(self) -> list[str]:
        """Sinks with pending entries."""
        ...

    async def claim_due(self, sink: str, now: float, limit: int,
                        lease: float) -> list[Delivery]:
        """Up to `limit` heads of the sink's lanes that are due, each leased for `lease` s."""
        ...

    async def next_due(self, sink: str) -> float | None:
        """When the sink's earliest lane is due (or its lease lapses); None when idle."""
        ...

    async def delivered(self, entry: Delivery, now: float) -> None: ...

    async def retry(self, entry: Delivery, next_at: float, error: str) -> None: ...

    async def dead(self, entry: Delivery, error: str, now: float) -> None: ...

    async def depth(self) -> dict[str, int]:
        """Pending entries per sink."""
        ...

    async def counts(self) -> dict[str, int]:
        """Entries by state: pending, delivered, dead."""
        ...

    async def prune(self, keep_delivered: float, now: float) -> None:
        """Forget old delivered and dead entries and old duplicate keys."""
        ...


@dataclass(frozen=True)
class State:
    """One backend's stores, opened together by open_state()."""

    kind: str  # memory (a restart forgets everything), sqlite or redis
    gates: GateStore
    tasks: TaskLedger
    events: EventQueue
    ping: Callable[[], Awaitable[None]]  # raises StoreUnavailable when the store is away
