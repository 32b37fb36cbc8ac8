"""The Flagger event: validation of the payload, its identity, and the view templates see.

A model beside models.py, below both the events package that delivers it and the state's outbox
that keeps it."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from loadtester.errors import InvalidPayload
from loadtester.excerpt import excerpt
from loadtester.models import WebhookPayload

FLAGGER_KEYS = frozenset({"eventMessage", "eventType", "timestamp"})
# set by the service on a load run's result message (with -console-url only): the message
# links to the canary's page; not one of the facts a message shows
LOAD_RESULT_KEY = "loadtesterResult"
EVENT_TYPES = frozenset({"Normal", "Warning"})
INT64 = 2**63


@dataclass(frozen=True)
class Event:
    """One Flagger event as it is stored in the outbox."""

    name: str
    namespace: str
    phase: str
    checksum: str
    message: str
    event_type: str
    timestamp_ms: int
    metadata: dict[str, str] = field(default_factory=dict)
    received_at: float = 0.0

    @classmethod
    def from_payload(cls, payload: WebhookPayload, now: float | None = None) -> Event:
        """Check that the payload is an event; raise InvalidPayload with the reason."""
        metadata = dict(payload.metadata or {})
        message = metadata.get("eventMessage", "").strip()
        if not message:
            raise InvalidPayload("invalid event: metadata.eventMessage is required")
        event_type = metadata.get("eventType") or "Normal"
        if event_type not in EVENT_TYPES:
            raise InvalidPayload(
                "invalid event: metadata.eventType must be Normal or Warning, not "
                f"{excerpt(event_type)}"
            )
        received = time.time() if now is None else now
        raw_ts = metadata.get("timestamp", "")
        timestamp = _timestamp(raw_ts) if raw_ts else int(received * 1000)
        return cls(payload.name, payload.namespace, payload.phase, payload.checksum, message,
                   event_type, timestamp, metadata, received)

    @property
    def canary(self) -> str:
        return f"{self.name}.{self.namespace}"

    @property
    def severity(self) -> str:
        """info, warn or error, as Flagger's own alert providers grade events."""
        if self.phase == "Failed":
            return "error"
        if self.event_type == "Warning":
            return "warn"
        return "info"

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def user_metadata(self) -> dict[str, str]:
        """Keys the Canary's webhook spec added (environment, cluster, ...)."""
        return {k: v for k, v in sorted(self.metadata.items())
                if k not in FLAGGER_KEYS and k != LOAD_RESULT_KEY}

    def identity(self, target: str = "") -> str:
        """Same for a retry of the same Flagger call: name, namespace, phase, checksum, metadata."""
        raw = json.dumps([self.name, self.namespace, self.phase, self.checksum,
                          sorted(self.metadata.items()), target], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()

    def fold_key(self) -> str:
        """Identical messages of one canary share this key."""
        raw = json.dumps([self.event_type, self.phase, self.message], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def to_json(self) -> str:
        return self._json

    @cached_property
    def _json(self) -> str:  # built once: a 1 MiB event's is built beside the event loop
        return json.dumps({
            "name": self.name, "namespace": self.namespace, "phase": self.phase,
            "checksum": self.checksum, "message": self.message, "eventType": self.event_type,
            "timestamp": self.timestamp_ms, "metadata": self.metadata,
            "receivedAt": self.received_at,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Event:
        data: dict[str, Any] = json.loads(text)
        return cls(data["name"], data["namespace"], data["phase"], data["checksum"],
                   data["message"], data["eventType"], int(data["timestamp"]),
                   dict(data["metadata"]), float(data["receivedAt"]))

    @classmethod
    def from_stored(cls, text: str) -> Event | None:
        """A stored event, or None when it cannot be read back (then it can only be dead)."""
        try:
            return cls.from_json(text)
        except Exception:  # any shape of damage: bad JSON, missing keys, wrong types
            return None

    def context(self, count: int = 1) -> dict[str, Any]:
        """What message templates see."""
        return {
            "name": self.name, "namespace": self.namespace, "canary": self.canary,
            "phase": self.phase, "checksum": self.checksum, "message": self.message,
            "event_type": self.event_type, "eventType": self.event_type,
            "severity": self.severity, "timestamp": self.time, "timestamp_ms": self.timestamp_ms,
            "metadata": dict(self.metadata), "user_metadata": self.user_metadata,
            "count": count,
        }


def _timestamp(raw: str) -> int:
    """Unix milliseconds that a datetime and a signed 64-bit integer can both hold."""
    try:
        timestamp = int(raw)
        if not -INT64 <= timestamp < INT64:
            raise OverflowError
        datetime.fromtimestamp(timestamp / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidPayload(
            "invalid event: metadata.timestamp must be Unix milliseconds between years 1 and 9999"
        ) from None
    return timestamp


def sample_event() -> Event:
    """A typical event, used to try every template at start-up."""
    return Event("podinfo", "test", "Progressing", "85d557f47b",
                 "Advance podinfo.test canary weight 10", "Normal", 1_700_000_000_000,
                 {"eventMessage": "Advance podinfo.test canary weight 10", "eventType": "Normal",
                  "timestamp": "1700000000000", "environment": "test"}, 1_700_000_000.0)
