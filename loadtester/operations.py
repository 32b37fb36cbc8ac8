"""What a person does to a canary: switch a gate, cancel a task. The curl endpoints and the
console's API both come here, so that each change is made, audited and logged the same way."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from loadtester.logs import get_logger
from loadtester.state.base import (
    AuditEntry,
    GateChange,
    State,
    TaskRecord,
    gate_key,
    rollback_key,
)

if TYPE_CHECKING:
    from loadtester.tasks.runner import TaskRunner

ANONYMOUS = "anonymous"
GATES = ("gate", "rollback")


async def change_gate(state: State, gate: str, name: str, namespace: str,
                      is_open: bool, *, who: str, peer: str, checksum: str = "",
                      bound: bool = False, proxy: str = "") -> GateChange:
    """Open or close a canary's gate (or rollback gate), audit and log the change.

    `bound`: the opened gate approves revision `checksum` only (an approval from the
    console); unbound, as the Go service's /gate/open, it approves any. `who` is the token's
    name (or "anonymous"), `peer` the client's address, `proxy` the socket's peer when a
    trusted proxy forwarded the call.
    """
    if gate not in GATES:
        raise ValueError(f"no gate {gate!r}: gate or rollback")
    key_of = gate_key if gate == "gate" else rollback_key
    bound = bound and is_open
    by = peer if who in ("", ANONYMOUS) else f"{who}@{peer}"
    change = GateChange(is_open, by=by, checksum=checksum, at=time.time(), name=name,
                        namespace=namespace, bound=bound)
    await state.gates.set(key_of(name, namespace), change)
    action = f"{gate}-{'open' if is_open else 'close'}"
    await state.audit.append(AuditEntry(change.at, who or ANONYMOUS, peer, action, name,
                                        namespace, checksum if bound else ""))
    fields = {"by": who} if who and who != ANONYMOUS else {}
    if proxy:
        fields["proxy"] = proxy
    get_logger(canary=name, namespace=namespace).info(
        f"{gate} {'opened' if is_open else 'closed'}", remote=peer, checksum=checksum,
        bound=bound, **fields)
    return change


async def cancel_task(state: State, runner: TaskRunner, task_id: str, *, who: str,
                      peer: str) -> TaskRecord | None:
    """Cancel a running background task: at once when it runs here, else through the ledger
    (the replica running it stops at its next lease renewal). None for an unknown id; a task
    that already ended, or a blocking check, is answered as it is, unchanged."""
    record = await state.history.task(task_id)
    if record is None:
        return None
    if record.outcome != "running" or not record.background:
        return record
    who = who or ANONYMOUS
    why = f"cancelled by {who}"
    if not await runner.cancel(task_id, why):
        # elsewhere (or on a replica that died): the record says so now, its owner stops soon
        await state.tasks.cancel(task_id)
        await state.history.record_task(dataclasses.replace(
            record, ended_at=time.time(), outcome="cancelled", reason=why))
    await state.audit.append(AuditEntry(time.time(), who, peer, "task-cancel", record.name,
                                        record.namespace, record.checksum,
                                        f"{task_id}: {record.description}"))
    get_logger(canary=record.name, namespace=record.namespace, type=record.type,
               task=record.description).info("task cancel", by=who, remote=peer, id=task_id)
    return await state.history.task(task_id) or record
