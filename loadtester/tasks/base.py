"""What every task is: parsed from a payload, run once, ending in a TaskResult."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from loadtester.errors import BadRequest
from loadtester.models import WebhookPayload

if TYPE_CHECKING:
    import aiohttp

    from loadtester.events.service import EventService
    from loadtester.settings import Settings
    from loadtester.state.base import LoadShares

DEFAULT_TYPE = "cmd"  # the task of a payload whose metadata names no `type`


@dataclass(frozen=True)
class TaskResult:
    """The end of a run: ok or a one-line reason, the answer body, what to log."""

    ok: bool
    reason: str = ""
    answer: str = ""  # body of a successful check's response
    logged_output: str = ""  # output to put in the end-of-task log line (logCmdOutput)
    fields: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    # a load run's figures over time (RunSeries.to_json()), kept as a LoadRun by the runner
    series: dict[str, Any] | None = None

    @property
    def outcome(self) -> str:
        """ok, failed or timeout: the outcome label of the task metrics."""
        return "timeout" if self.timed_out else "ok" if self.ok else "failed"


@dataclass(frozen=True)
class TaskEnvironment:
    """What a task may use while it runs, opened and closed by the app."""

    settings: Settings
    http: aiohttp.ClientSession
    events: EventService | None = None  # where a task's own messages go (load results)
    shares: LoadShares | None = None  # load runs spread over replicas (metadata replicas)


class Task(Protocol):
    """One run requested by Flagger."""

    @property
    def type(self) -> str:
        """The `metadata.type` that asked for it."""
        ...

    @property
    def payload(self) -> WebhookPayload:
        """The payload that asked for it."""
        ...

    @property
    def background(self) -> bool:
        """True when the answer does not wait for the run."""
        ...

    @property
    def key(self) -> str:
        """Background de-duplication key: canary plus what it runs."""
        ...

    @property
    def description(self) -> str:
        """What it runs, for logs."""
        ...

    async def run(self, env: TaskEnvironment) -> TaskResult: ...


def require(metadata: dict[str, str], key: str) -> str:
    """A metadata value that must be present and non-empty."""
    value = metadata.get(key, "")
    if not value.strip():
        raise BadRequest(f"{key} not found in metadata")
    return value


def flag(metadata: dict[str, str], key: str) -> bool:
    """A boolean metadata value as Go's strconv.ParseBool reads it (bad values are false)."""
    return metadata.get(key, "").strip().lower() in ("1", "t", "true")
