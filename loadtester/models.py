"""The webhook payload Flagger posts to every endpoint."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from loadtester.errors import InvalidPayload

PHASES = frozenset({"Initializing", "Initialized", "Waiting", "Progressing", "WaitingPromotion",
                    "Promoting", "Finalising", "Succeeded", "Failed", "Terminating",
                    "Terminated"})
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Terminating", "Terminated"})
# Flagger's checksums are hashes of ~10 characters; a longer one is stored and served forever
MAX_CHECKSUM = 256
# RFC 1123: a namespace is one label, a name a subdomain of dot-separated labels
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAMESPACE = re.compile(rf"{_LABEL}\Z")
_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\Z")


class WebhookPayload(BaseModel):
    """Flagger's CanaryWebhookPayload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # empty where absent, as Go's encoding/json leaves them; checked by validate_payload()
    name: str = ""
    namespace: str = ""
    phase: str = ""
    checksum: str = ""
    metadata: dict[str, str] | None = None

    @field_validator("name", "namespace", "phase", "checksum", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value  # Go's json.Unmarshal leaves null fields empty

    @field_validator("metadata", mode="before")
    @classmethod
    def _stringify_values(cls, value: Any) -> Any:
        # Flagger's CRD says string values, but hand-written Canaries carry lists (`alerts:`).
        if isinstance(value, dict):
            return {
                # ensure_ascii=False: a lone surrogate stays visible to validate_payload()
                str(key): item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
                for key, item in value.items()
            }
        return value

    @property
    def canary(self) -> str:
        """`name.namespace`, as the Go service names a canary in messages (store keys are
        state.store_keys': this form is ambiguous for a namespace with a dot)."""
        return f"{self.name}.{self.namespace}"

    def log_fields(self) -> dict[str, str]:
        """The keys every log line about this payload carries."""
        return {"canary": self.name, "namespace": self.namespace, "phase": self.phase}


def parse_payload(body: bytes) -> WebhookPayload:
    """Decode a request body as Go's json.Unmarshal would take it; InvalidPayload otherwise.

    Only the Go service's own check happens here (the body is a JSON payload); ours come
    after its namespace and metadata checks, in validate_payload(), so that Go's answer wins
    wherever Go would give one.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload(f"invalid JSON payload: {_first_line(str(exc))}") from None
    except RecursionError:
        raise InvalidPayload("invalid JSON payload: nested too deeply") from None
    if data is None:
        data = {}  # Go decodes `null` into an empty payload
    if not isinstance(data, dict):
        raise InvalidPayload("invalid payload: expected a JSON object")
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        reason = "is required" if error["type"] == "missing" else error["msg"].lower()
        raise InvalidPayload(f"invalid payload: {where} {reason}") from None


def may_hold_surrogates(body: bytes) -> bool:
    """False when the body cannot decode to a lone surrogate: it has no `\\u` escape and no
    UTF-8 lead byte of the surrogate range (json accepts those bytes, as surrogatepass)."""
    return b"\\u" in body or b"\xed" in body


def validate_payload(payload: WebhookPayload, *, names_required: bool = False,
                     check_text: bool = True) -> None:
    """Our checks, beyond the Go service's: InvalidPayload for a lone UTF-16 surrogate (unless
    `check_text` is False: see may_hold_surrogates), a name or namespace that is not a
    Kubernetes name (empty ones pass, as Go takes them, unless `names_required`), a phase
    that is not one of Flagger's (or empty), or a checksum over MAX_CHECKSUM characters."""
    if check_text:
        refuse_lone_surrogates(payload.model_dump())
    if names_required:
        for field_name in ("name", "namespace"):
            if not getattr(payload, field_name):
                raise InvalidPayload(f"invalid payload: {field_name} is required")
    # a dot in a namespace would let `a.b`+`c` and `a`+`b.c` share the gate key `a.b.c`
    if payload.name and (len(payload.name) > 253 or not _NAME.match(payload.name)):
        raise InvalidPayload(
            f"invalid payload: name {quote(payload.name)} is not a valid Kubernetes name")
    if payload.namespace and not is_namespace(payload.namespace):
        raise InvalidPayload(f"invalid payload: namespace {quote(payload.namespace)} "
                             "is not a valid Kubernetes namespace")
    if payload.phase and payload.phase not in PHASES:
        raise InvalidPayload(f"invalid payload: phase {quote(payload.phase)} is not a phase "
                             "of Flagger's")
    if len(payload.checksum) > MAX_CHECKSUM:
        raise InvalidPayload(f"invalid payload: checksum longer than {MAX_CHECKSUM} characters")


def is_name(value: str) -> bool:
    """True for an RFC 1123 subdomain of at most 253 characters, as Kubernetes names are."""
    return len(value) <= 253 and _NAME.match(value) is not None


def is_namespace(value: str) -> bool:
    """True for an RFC 1123 label of at most 63 characters, as Kubernetes namespaces are."""
    return len(value) <= 63 and _NAMESPACE.match(value) is not None


def quote(value: str, limit: int = 80) -> str:
    """The value in double quotes on one line, escaped as JSON, cut after `limit` characters."""
    return json.dumps(value[:limit]) + ("..." if len(value) > limit else "")


def refuse_lone_surrogates(data: dict[str, Any]) -> None:
    """InvalidPayload naming a string (key or value) that is not valid Unicode text.

    JSON's `\\ud800` escape decodes to a lone surrogate, which no UTF-8 encoder (a log line,
    a process argument, a database) accepts.
    """
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:  # a loop, not recursion: the JSON may be nested as deep as json allows
        where, value = pending.pop()
        if isinstance(value, str):
            _check_text(where, value)
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else key
                _check_text(path, key)
                pending.append((path, item))
        elif isinstance(value, list):
            pending.extend((f"{where}[{index}]", item) for index, item in enumerate(value))


def _check_text(where: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        field = json.dumps(where[:40])[1:-1]
        surrogate = f"\\u{ord(text[exc.start]):04x}"
        raise InvalidPayload(
            f"invalid payload: {field} contains a lone UTF-16 surrogate ({surrogate})"
        ) from None


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
