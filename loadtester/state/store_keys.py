"""The one encoding of store keys: each (kind, name, namespace) has a key no other one has.

    canary_id(name, namespace)      <namespace>/<name>              event lanes, lease groups,
                                                                    history indexes
    gate_key, rollback_key          gate:<namespace>/<name>, rollback:<namespace>/<name>
    task_key(name, namespace, d)    task:<namespace>/<name>/<d>     the ledger key of a task

Each part is percent-encoded (every byte but letters, digits and `_.-~`), so a part never
holds `/`, `:` or a bare `%`: splitting a key at its first `:` and at its `/`s gives back the
kind and the parts, whatever the name and namespace are (empty, unvalidated, any Unicode).
A Kubernetes name or namespace is left as it is (`gate:team-b/podinfo`), so keys stay readable.

The Go service keyed a gate `<name>.<namespace>` and a rollback `rollback.<name>.<namespace>`:
the gate of `rollback.podinfo` had the key of the rollback of `podinfo`. Stores written that
way are read through the legacy_* functions here (SQLite rewrites them once, Redis reads both
forms: see sqlite_migrate.py and redis.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

GATE = "gate"
ROLLBACK = "rollback"
TASK = "task"


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch


def _part(text: str) -> str:
    if _UNRESERVED(text):  # every Kubernetes name: quote() would return it unchanged
        return text
    # surrogatepass: a lone surrogate (refused at the door, but keys must stay total) has a key
    return quote(text, safe="", errors="surrogatepass")


def _unpart(text: str) -> str:
    return unquote(text, errors="surrogatepass")


def canary_id(name: str, namespace: str) -> str:
    """One canary: its event lane, its group of task leases, its history's index."""
    return f"{_part(namespace)}/{_part(name)}"


def gate_key(name: str, namespace: str) -> str:
    """The key of a canary's gate."""
    return f"{GATE}:{canary_id(name, namespace)}"


def rollback_key(name: str, namespace: str) -> str:
    """The key of a canary's rollback switch."""
    return f"{ROLLBACK}:{canary_id(name, namespace)}"


def task_key(name: str, namespace: str, digest: str) -> str:
    """The ledger key of one of a canary's background tasks (`digest`: of its command)."""
    return f"{TASK}:{canary_id(name, namespace)}/{_part(digest)}"


def is_rollback(key: str) -> bool:
    """Whether a gate store key is a rollback switch's."""
    return key.startswith(f"{ROLLBACK}:")


@dataclass(frozen=True)
class Parsed:
    """What a key names."""

    kind: str
    name: str
    namespace: str
    digest: str = ""  # a task key's


def parse(key: str) -> Parsed | None:
    """The kind, name and namespace a key of this module names; None for any other string."""
    kind, colon, rest = key.partition(":")
    parts = rest.split("/")
    if not colon or kind not in (GATE, ROLLBACK, TASK) or len(parts) != (
            3 if kind == TASK else 2):
        return None
    namespace, name, *digest = (_unpart(part) for part in parts)
    return Parsed(kind, name, namespace, digest[0] if digest else "")


# The forms the Go service and earlier releases wrote.

def legacy_canary(name: str, namespace: str) -> str:
    """`<name>.<namespace>`: a canary's event lane and lease group, as earlier releases kept
    them (ambiguous when a namespace holds a dot, which no Kubernetes namespace does)."""
    return f"{name}.{namespace}"


def legacy_group(canary: str) -> str | None:
    """The legacy_canary of a canary_id; None when `canary` is not one."""
    namespace, slash, name = canary.partition("/")
    if not slash or "/" in name:
        return None
    return legacy_canary(_unpart(name), _unpart(namespace))


def split_legacy_canary(text: str) -> tuple[str, str]:
    """(name, namespace) of a legacy_canary: a Kubernetes namespace holds no dot."""
    name, _dot, namespace = text.rpartition(".")
    return name, namespace


def legacy_key(key: str) -> str | None:
    """What an earlier release called the gate, rollback or task that `key` names."""
    parsed = parse(key)
    if parsed is None:
        return None
    canary = legacy_canary(parsed.name, parsed.namespace)
    if parsed.kind == GATE:
        return canary
    if parsed.kind == ROLLBACK:
        return f"rollback.{canary}"
    return f"{canary}/{parsed.digest}"


def from_legacy_gate(key: str, name: str, namespace: str) -> str:
    """The key of a gate an earlier release stored as `key`, given the name and namespace
    stored with it: they tell the gate of `rollback.x` from the rollback of `x`, whose
    legacy keys are equal. A row whose fields do not fit its key (none was written so) is
    taken by the key alone: `rollback.` first is a rollback."""
    if key == legacy_canary(name, namespace):
        return gate_key(name, namespace)
    if key == f"rollback.{legacy_canary(name, namespace)}":
        return rollback_key(name, namespace)
    if key.startswith("rollback."):
        return rollback_key(*split_legacy_canary(key.removeprefix("rollback.")))
    return gate_key(*split_legacy_canary(key))


def from_legacy_task(key: str) -> tuple[str, str] | None:
    """(task key, canary_id) of a ledger key an earlier release wrote
    (`<name>.<namespace>/<digest>`); None when `key` is not one."""
    canary, slash, digest = key.rpartition("/")
    if not slash or "." not in canary:
        return None
    name, namespace = split_legacy_canary(canary)
    return task_key(name, namespace, digest), canary_id(name, namespace)
