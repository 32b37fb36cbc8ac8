"""The kinds of state the service keeps, one protocol each, and what they hand back.

Every backend (memory, SQLite, Redis) implements all of them; handlers, the task runner and the
event dispatcher see only these protocols. Every method may raise StoreUnavailable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from loadtester.event import Event
from loadtester.state.admission import CanaryAdmission
from loadtester.state.pages import CanaryCursor
from loadtester.state.store_keys import gate_key as gate_key
from loadtester.state.store_keys import rollback_key as rollback_key

# a closed gate is forgotten this long after its last change
KEEP_CLOSED_GATES = 7 * 24 * 3600.0
# a background task's claim lapses this long after its last renewal (its replica died)
LEASE_SECONDS = 12.0
# a delivery attempt holds its lane this long; a replica killed during it is taken over then
DELIVERY_LEASE_SECONDS = 20.0
KEEP_EVENT_KEYS = 24 * 3600.0
KEEP_DEAD_EVENTS = 7 * 24 * 3600.0
# canaries, tasks and audit entries older than this are pruned
KEEP_HISTORY = 7 * 24 * 3600.0
# load runs (with their series) kept per canary: the last KEEP_RUNS, none older than KEEP_HISTORY
KEEP_RUNS = 50


@dataclass(frozen=True)
class GateChange:
    """A gate's state, who set it and for which canary."""

    is_open: bool
    by: str = ""
    checksum: str = ""
    at: float = 0.0
    name: str = ""
    namespace: str = ""
    bound: bool = False  # approves revision `checksum` only (an approval from the console)

    def approves(self, checksum: str) -> bool:
        """Whether a check of revision `checksum` passes."""
        return self.is_open and (not self.bound or self.checksum == checksum)


class GateStore(Protocol):
    """Gates and rollback gates; closed is the state of any key never opened."""

    async def is_open(self, key: str, checksum: str = "") -> bool:
        """Open, and either not bound to a revision or bound to `checksum`."""
        ...

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

    async def cancel(self, key: str) -> bool:
        """Drop one lease (a cancel from the console); its owner stops at its renewal."""
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

    async def history(self, name: str, namespace: str, limit: int) -> list[EventRecord]:
        """The canary's last `limit` events still in the outbox, newest first, with their
        delivery state per sink (an event no sink took is not stored, so not listed)."""
        ...


@dataclass(frozen=True)
class Sighting:
    """A webhook call naming a canary."""

    name: str
    namespace: str
    phase: str  # "" (a curl without one) keeps the phase known
    checksum: str  # "" keeps the checksum known
    source: str  # task | gate | event
    at: float  # time.time()


@dataclass(frozen=True)
class CanaryRecord:
    """A canary as its webhook calls showed it."""

    name: str
    namespace: str
    phase: str
    phase_at: float  # when the phase became what it is
    checksum: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class TaskRecord:
    """One task run, from its start to its end."""

    id: str  # background: the ledger key (runner.stored_key); blocking: a uuid4 hex
    name: str
    namespace: str
    type: str
    description: str  # redacted: never a secret
    checksum: str
    background: bool
    started_at: float
    ended_at: float | None
    outcome: str  # running | succeeded | failed | cancelled
    reason: str = ""  # why it failed or was cancelled (short, redacted)
    load: dict[str, float] | None = None  # rate (req/s), p50, p99 (s), error_rate (%), requests
    replica: str = ""  # hostname/pid of the replica running it


@dataclass(frozen=True)
class AuditEntry:
    """One change made by a person: a gate switched, a task cancelled."""

    at: float
    who: str  # the token's name when -token-file is set, else "anonymous"
    peer: str  # the client's address (forwarded.client_address)
    action: str  # gate-open | gate-close | rollback-open | rollback-close | task-cancel
    name: str
    namespace: str
    revision: str  # the checksum the action was bound to ("" if none)
    detail: str = ""  # e.g. the task id and description of a task-cancel


@dataclass(frozen=True)
class EventRecord:
    """One Flagger event and its delivery state per sink."""

    id: str
    name: str
    namespace: str
    phase: str
    event_type: str
    message: str
    received_at: float
    deliveries: dict[str, str]  # sink -> pending | retrying | delivered | dead
    errors: dict[str, str]  # sink -> last error ("" when none)


class CanaryHistory(Protocol):
    """What the console shows of each canary: when it was seen, its task runs."""

    async def seen(self, sighting: Sighting) -> None:
        """Create or update the canary's row."""
        ...

    async def canaries(self, since: float) -> list[CanaryRecord]:
        """Canaries seen at or after `since`, the last seen first."""
        ...

    async def canary_page(self, since: float, limit: int, after: CanaryCursor | None = None,
                          namespaces: frozenset[str] | None = None) -> list[CanaryRecord]:
        """Up to `limit` of canaries(since) that come after `after`, of `namespaces` only
        (None: all), read from an index: the cost is the page's, not the history's."""
        ...

    async def canary(self, name: str, namespace: str) -> CanaryRecord | None: ...

    async def record_task(self, record: TaskRecord) -> None:
        """Create or replace the record with this id."""
        ...

    async def tasks(self, name: str | None = None, namespace: str | None = None,
                    limit: int = 50) -> list[TaskRecord]:
        """Task runs, the last started first, of one canary, namespace or all."""
        ...

    async def task(self, id: str) -> TaskRecord | None: ...

    async def prune(self, now: float) -> None:
        """Forget canaries last seen and tasks started more than KEEP_HISTORY ago."""
        ...


@dataclass(frozen=True)
class LoadRun:
    """One load run of a canary: its figures over time and its result."""

    id: str  # a uuid4 hex, given when the run ended
    name: str
    namespace: str
    task_id: str  # the TaskRecord of the task that ran it
    description: str  # redacted, as the task record's
    started_at: float
    ended_at: float
    outcome: str  # succeeded | failed
    reason: str  # why it failed (short, redacted), "" when it succeeded
    series: dict[str, Any]  # RunSeries.to_json(): step and targets' points
    summary: dict[str, Any]  # the result's figures (LoadResult.to_json() and verdicts)
    checksum: str = ""  # the revision run against: the webhook payload's checksum


class LoadRuns(Protocol):
    """Load runs of each canary: the last KEEP_RUNS, none older than KEEP_HISTORY."""

    async def record(self, run: LoadRun) -> None:
        """Keep the run (replacing one with its id); forget the canary's runs past KEEP_RUNS."""
        ...

    async def run(self, name: str, namespace: str, id: str) -> LoadRun | None: ...

    async def ids(self, name: str, namespace: str, limit: int = KEEP_RUNS) -> list[str]:
        """The canary's run ids, the last started first."""
        ...

    async def prune(self, now: float) -> None:
        """Forget runs started more than KEEP_HISTORY ago."""
        ...


class AuditLog(Protocol):
    """Changes made by people, kept KEEP_HISTORY."""

    async def append(self, entry: AuditEntry) -> None: ...

    async def entries(self, name: str | None = None, namespace: str | None = None,
                      limit: int = 100) -> list[AuditEntry]:
        """Entries, newest first, of one canary, namespace or all."""
        ...

    async def prune(self, now: float) -> None:
        """Forget entries older than KEEP_HISTORY."""
        ...


class SessionRevocations(Protocol):
    """Console sessions ended by a logout, kept until they would have expired anyway."""

    async def revoke(self, session_id: str, until: float) -> None:
        """Refuse the session from now until `until` (time.time())."""
        ...

    async def is_revoked(self, session_id: str) -> bool: ...


# a replica is live while its last heartbeat is younger than this (load runs over replicas)
REPLICA_TTL = 5.0


@dataclass(frozen=True)
class SharedRun:
    """A load run spread over the replicas: what each share runs, and when."""

    id: str  # a uuid4 hex
    shares: int  # n: share k of n sends the run's requests k, k + n, k + 2n, ...
    start_at: float  # time.time() of the common start
    deadline: float  # time.time() after which nobody waits for a share (the keys expire)
    task: dict[str, Any]  # what to run: the webhook payload (with its metadata), as JSON


@dataclass(frozen=True)
class ShareReport:
    """One message from a share's replica: ``progress`` (a delta since the last one: also its
    heartbeat), ``done`` (its last delta and its whole result) or ``failed`` (why)."""

    share: int
    replica: str
    kind: str  # progress | done | failed
    body: dict[str, Any]


class LoadShares(Protocol):
    """Load runs spread over the replicas that share the store: the receiving replica
    publishes a run, each other replica claims at most one share of it and reports back."""

    def refusal(self) -> str | None:
        """None where runs can be spread over replicas; else why not, in one line."""
        ...

    async def heartbeat(self, replica: str, ttl: float) -> int:
        """Count `replica` live for `ttl` s more; returns how many replicas are live."""
        ...

    async def leave(self, replica: str) -> None:
        """`replica` stops taking shares (it shuts down)."""
        ...

    async def live(self) -> int:
        """How many replicas are live."""
        ...

    async def publish(self, run: SharedRun, replica: str) -> None:
        """Hand the run out; `replica` (the receiving one) holds share 0."""
        ...

    async def take(self, replica: str, cursor: str,
                   wait: float) -> tuple[str, list[tuple[SharedRun, int]]]:
        """Runs published after `cursor` ("" : from now on), waiting up to `wait` s for one,
        each with the share `replica` claimed of it (runs with none left are left out), and
        the cursor to pass next."""
        ...

    async def owners(self, run_id: str) -> dict[int, str]:
        """Which replica claimed each share so far."""
        ...

    async def report(self, run_id: str, report: ShareReport) -> bool:
        """Send a share's message; False once the run is stopped (its receiver gave up)."""
        ...

    async def reports(self, run_id: str, cursor: str,
                      wait: float) -> tuple[str, list[ShareReport]]:
        """The run's messages after `cursor` ("": from the first), waiting up to `wait` s."""
        ...

    async def stop(self, run_id: str) -> None:
        """Tell the shares still running to stop."""
        ...


@dataclass(frozen=True)
class State:
    """One backend's stores, opened together by open_state()."""

    kind: str  # memory (a restart forgets everything), sqlite or redis
    gates: GateStore
    tasks: TaskLedger
    events: EventQueue
    ping: Callable[[], Awaitable[None]]  # raises StoreUnavailable when the store is away
    history: CanaryHistory
    audit: AuditLog
    admission: CanaryAdmission
    revocations: SessionRevocations
    runs: LoadRuns
    location: str = ""  # the SQLite file; "" in memory and for Redis (its URL may hold secrets)
    fallback: str = ""  # why this is not the store -state names ("" when it is)
    shares: LoadShares | None = None  # load runs over replicas (None: as NoSharedRuns)

    @property
    def durable(self) -> bool:
        """Whether what is kept outlives the process."""
        return self.kind != "memory"
