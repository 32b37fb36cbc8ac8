"""`-allow-cmd`: which commands a payload may run, checked before any task is built."""

from __future__ import annotations

import re
from collections.abc import Sequence

from loadtester.errors import Forbidden
from loadtester.models import WebhookPayload
from loadtester.tasks.base import DEFAULT_TYPE, Task

SHELL_TYPES = frozenset({"cmd", "bash"})
TOOL_TYPES = frozenset({"helm", "helmv3", "kubectl"})
LOAD_TYPE = "load"
SHOWN_CHARS = 80


class CommandPolicy:
    """Allows a command only when one `-allow-cmd` pattern matches all of it; no pattern: all.

    `cmd` and `bash` are matched on `metadata.cmd` as the shell gets it; `helm`, `helmv3`,
    `kubectl` and `load` on the command line as typed, the type's name first (`kubectl rollout
    status deploy/podinfo`, `load hey -z 1m http://podinfo:9898/`), so one pattern list can
    tell a tool's arguments from a shell command. A `load` run given by metadata (`url`, a
    `scenario`) runs no command line: each URL it would send requests to is matched instead,
    as `load <url>`, once the task is built (`check_task`).
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = tuple(re.compile(pattern) for pattern in patterns)

    def check(self, payload: WebhookPayload) -> None:
        """Raise Forbidden (403) naming the command when no pattern allows it."""
        if not self._patterns:
            return
        command = command_of(payload)
        if command is not None:
            self._match(command)

    def check_task(self, task: Task) -> None:
        """Raise Forbidden naming the first URL of a load run given by metadata that no
        pattern allows as `load <url>`."""
        if not self._patterns:
            return
        # here, not at the top: the load task brings the load generator with it
        from loadtester.tasks.load import LoadTask

        if not isinstance(task, LoadTask):
            return
        if command_of(task.payload) is not None:
            # its command line, URLs included, passed check(); a compare URL is not in it
            for url in task.compare_targets:
                self._match(f"{LOAD_TYPE} {url}")
            return
        for url in task.targets:
            self._match(f"{LOAD_TYPE} {url}")

    def _match(self, command: str) -> None:
        if not any(pattern.fullmatch(command) for pattern in self._patterns):
            shown = command[:SHOWN_CHARS].replace("\r", " ").replace("\n", " ")
            raise Forbidden(f"command not allowed: {shown}")


def command_of(payload: WebhookPayload) -> str | None:
    """The command line a payload would run (in a process; `load`'s in the built-in
    generator), or None when it runs none."""
    metadata = payload.metadata or {}
    kind = metadata.get("type", DEFAULT_TYPE)
    command = metadata.get("cmd", "")
    if not command.strip():
        return None  # the task's factory answers `400 cmd not found in metadata`
    if kind in SHELL_TYPES:
        return command
    if kind in TOOL_TYPES:
        return f"{kind} {command}"
    if kind == LOAD_TYPE and not metadata.get("scenario", "").strip():
        return f"{kind} {command}"  # with a scenario, cmd is refused (400): its URLs count
    return None
