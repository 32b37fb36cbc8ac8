"""The webhook payload Flagger posts to every endpoint."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loadtester.errors import InvalidPayload

PHASES = frozenset({"Initializing", "Initialized", "Waiting", "Progressing", "WaitingPromotion",
                    "Promoting", "Finalising", "Succeeded", "Failed", "Terminating",
                    "Terminated"})
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Terminating", "Terminated"})


class WebhookPayload(BaseModel):
    """Flagger's CanaryWebhookPayload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    phase: str = ""
    checksum: str = ""
    metadata: dict[str, str] | None = None

    @field_validator("metadata", mode="before")
    @classmethod
    def _stringify_values(cls, value: Any) -> Any:
        # Flagger's CRD says string values, but hand-written Canaries carry lists (`alerts:`).
        if isinstance(value, dict):
            return {
                str(key): item if isinstance(item, str) else json.dumps(item)
                for key, item in value.items()
            }
        return value

    @property
    def canary(self) -> str:
        """`name.namespace`, the Go service's key for a canary."""
        return f"{self.name}.{self.namespace}"

    def log_fields(self) -> dict[str, str]:
        """The keys every log line about this payload carries."""
        return {"canary": self.name, "namespace": self.namespace, "phase": self.phase}


def parse_payload(body: bytes) -> WebhookPayload:
    """Decode and validate a request body; raise InvalidPayload with a one-line reason."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload(f"invalid JSON payload: {_first_line(str(exc))}") from None
    except RecursionError:
        raise InvalidPayload("invalid JSON payload: nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidPayload("invalid payload: expected a JSON object")
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        reason = "is required" if error["type"] == "missing" else error["msg"].lower()
        raise InvalidPayload(f"invalid payload: {where} {reason}") from None


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
