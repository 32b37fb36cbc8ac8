"""TaskRecords of task runs, as the console shows them: written at the start and at the end."""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import uuid
from typing import Any

from loadtester.redact import redact
from loadtester.state.base import LoadRun, TaskRecord
from loadtester.tasks.base import Task, TaskResult

REPLICA = f"{socket.gethostname()}/{os.getpid()}"
_REASON_LIMIT = 500
_DESCRIPTION_LIMIT = 1000


def started(task: Task, id: str) -> TaskRecord:
    """The record of a run starting now."""
    payload = task.payload
    return TaskRecord(id, payload.name, payload.namespace, task.type,
                      _bounded(redact(task.description), _DESCRIPTION_LIMIT), payload.checksum,
                      task.background, time.time(), None, "running", replica=REPLICA)


def ended(record: TaskRecord, result: TaskResult) -> TaskRecord:
    """The record of a run that ended with `result`."""
    return dataclasses.replace(
        record, ended_at=time.time(), outcome="succeeded" if result.ok else "failed",
        reason="" if result.ok else _short(redact(result.reason), _REASON_LIMIT),
        load=load_summary(result.fields) if record.type == "load" else None)


def load_run(record: TaskRecord, result: TaskResult) -> LoadRun | None:
    """The LoadRun of a load run that ended (`record`: its task's ended record), with a new id;
    None when the run kept no series (another task type, or a run that never started)."""
    if result.series is None:
        return None
    return LoadRun(uuid.uuid4().hex, record.name, record.namespace, record.id, record.description,
                   record.started_at, record.ended_at or time.time(), record.outcome,
                   record.reason, result.series, dict(result.fields), record.checksum)


def cancelled(record: TaskRecord, why: str) -> TaskRecord:
    """The record of a run cancelled now, for `why`."""
    return dataclasses.replace(record, ended_at=time.time(), outcome="cancelled",
                               reason=_short(redact(why), _REASON_LIMIT))


def load_summary(fields: dict[str, Any]) -> dict[str, float] | None:
    """rate, p50, p99, error_rate and requests of a load run's LoadResult.to_json(); a latency
    is left out when no request got an answer. None when the run ended before any result."""
    if "rate" not in fields:
        return None
    summary = {"rate": float(fields["rate"]), "error_rate": float(fields["error_rate"]),
               "requests": float(fields["requests"])}
    latency = fields.get("latency") or {}
    for key in ("p50", "p99"):
        if latency.get(key) is not None:
            summary[key] = float(latency[key])
    return summary


def _short(text: str, limit: int) -> str:
    """One line (a failure's output reads badly over many), bounded."""
    return _bounded(" ".join(text.split()), limit)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
