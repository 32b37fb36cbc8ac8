"""What the JSON API answers: state records turned into the documents of routes/openapi.yaml.

Times are RFC 3339 strings in UTC (or null); keys are camelCase, as the console reads them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from loadtester.state.base import (
    AuditEntry,
    CanaryRecord,
    EventRecord,
    GateChange,
    LoadRun,
    State,
    TaskRecord,
    gate_key,
    rollback_key,
)

JSON = dict[str, Any]
RUNNING = "running"
LIST_RECENT = 5  # ended tasks and events per canary in the list
DETAIL_LIMIT = 100  # tasks, events and audit entries on a canary's own page


def rfc3339(at: float | None) -> str | None:
    """`2024-05-01T12:00:00.000Z`; None for no time (or the epoch, a GateChange never set)."""
    if not at:
        return None
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def gate_view(change: GateChange | None) -> JSON:
    if change is None:
        return {"open": False, "by": "", "at": None, "checksum": "", "bound": False}
    return {"open": change.is_open, "by": change.by, "at": rfc3339(change.at),
            "checksum": change.checksum, "bound": change.bound}


def task_view(record: TaskRecord) -> JSON:
    load = None
    if record.load is not None:
        load = {"rate": record.load.get("rate", 0.0), "p50": record.load.get("p50", 0.0),
                "p99": record.load.get("p99", 0.0),
                "errorRate": record.load.get("error_rate", 0.0),
                "requests": int(record.load.get("requests", 0))}
    return {"id": record.id, "name": record.name, "namespace": record.namespace,
            "type": record.type, "description": record.description,
            "background": record.background, "checksum": record.checksum,
            "startedAt": rfc3339(record.started_at), "endedAt": rfc3339(record.ended_at),
            "outcome": record.outcome, "reason": record.reason, "load": load}


def run_view(run: LoadRun) -> JSON:
    """A load run: its series as RunSeries.to_json() keeps it, its result's figures."""
    return {"id": run.id, "name": run.name, "namespace": run.namespace, "taskId": run.task_id,
            "description": run.description, "startedAt": rfc3339(run.started_at),
            "endedAt": rfc3339(run.ended_at), "outcome": run.outcome, "reason": run.reason,
            "series": run.series, "summary": run.summary, "checksum": run.checksum}


def event_view(record: EventRecord, *, with_canary: bool = False) -> JSON:
    view: JSON = {
        "id": record.id, "phase": record.phase, "type": record.event_type,
        "message": record.message, "receivedAt": rfc3339(record.received_at),
        "deliveries": {sink: {"state": state, "error": record.errors.get(sink, "")}
                       for sink, state in sorted(record.deliveries.items())},
    }
    if with_canary:
        view["name"], view["namespace"] = record.name, record.namespace
    return view


def audit_view(entry: AuditEntry) -> JSON:
    return {"at": rfc3339(entry.at), "who": entry.who, "peer": entry.peer,
            "action": entry.action, "name": entry.name, "namespace": entry.namespace,
            "revision": entry.revision, "detail": entry.detail}


def store_view(state: State) -> JSON:
    """The state store in use: its backend, whether it outlives a restart, where it is (the
    SQLite file), and why it is not the store -state names (`reason`, when `fallback`)."""
    return {"backend": state.kind, "durable": state.durable, "location": state.location,
            "fallback": bool(state.fallback), "reason": state.fallback}


async def gates_view(state: State, name: str, namespace: str) -> JSON:
    """`{"gate": Gate, "rollback": Gate}` of one canary."""
    gate, rollback = await asyncio.gather(state.gates.get(gate_key(name, namespace)),
                                          state.gates.get(rollback_key(name, namespace)))
    return {"gate": gate_view(gate), "rollback": gate_view(rollback)}


async def canary_view(state: State, record: CanaryRecord, *, detail: bool = False) -> JSON:
    """One canary; the list shows running tasks and a few recent ones, its page the history."""
    limit = DETAIL_LIMIT if detail else 50
    name, namespace = record.name, record.namespace
    gates, tasks, events = await asyncio.gather(
        gates_view(state, name, namespace),
        state.history.tasks(name, namespace, limit),
        state.events.history(name, namespace, DETAIL_LIMIT if detail else LIST_RECENT),
    )
    if not detail:
        recent = {task.id for task in [t for t in tasks if t.outcome != RUNNING][:LIST_RECENT]}
        tasks = [task for task in tasks if task.outcome == RUNNING or task.id in recent]
    view: JSON = {
        "id": f"{name}.{namespace}", "name": name, "namespace": namespace,
        "phase": record.phase, "phaseAt": rfc3339(record.phase_at), "checksum": record.checksum,
        "firstSeen": rfc3339(record.first_seen), "lastSeen": rfc3339(record.last_seen),
        **gates,
        "tasks": [task_view(task) for task in tasks],
        "events": [event_view(event) for event in events],
    }
    if detail:
        entries, runs = await asyncio.gather(state.audit.entries(name, namespace, DETAIL_LIMIT),
                                             state.runs.ids(name, namespace))
        view["audit"] = [audit_view(entry) for entry in entries]
        view["runs"] = runs  # load run ids, the last started first: GET .../runs/{id}
    return view
