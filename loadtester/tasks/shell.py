"""Command tasks: `cmd` (sh, background), `bash` (blocking), `helm`, `helmv3`, `kubectl`."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadtester.errors import BadRequest
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.metadata import thresholds_from_metadata
from loadtester.loadgen.results.thresholds import Thresholds
from loadtester.models import WebhookPayload
from loadtester.tasks.base import TaskEnvironment, TaskResult, flag, require
from loadtester.tasks.load import judge_tool_output, load_tool_target
from loadtester.tasks.process import ProcessResult, run_process


@dataclass(frozen=True)
class CommandTask:
    """Runs one command; `bash` and `cmd` through a shell (their contract), tools by argv."""

    type: str
    payload: WebhookPayload
    command: str
    argv: tuple[str, ...]
    background: bool
    return_output: bool = False
    log_output: bool = False
    tool_target: str | None = None  # set when the command runs hey or ghz: its summary is judged
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def key(self) -> str:
        return f"{self.payload.canary}/{self.command}"

    @property
    def description(self) -> str:
        return self.command

    async def run(self, env: TaskEnvironment) -> TaskResult:
        result = await run_process(
            self.argv, timeout=env.settings.timeout, kill_grace=env.settings.kill_grace
        )
        return self.interpret(result)

    def interpret(self, result: ProcessResult) -> TaskResult:
        """Turn how the process ended into the answer Flagger gets."""
        fields = {"exit_code": result.returncode, "output_truncated": result.truncated}
        logged = result.output if self.log_output else ""
        if result.ok and self.tool_target is not None:
            broken = judge_tool_output(self.payload, self.tool_target, self.thresholds,
                                       result.output)
            if broken is not None:
                return TaskResult(False, f"background task failed: {broken}",
                                  logged_output=logged, fields=fields)
        if result.ok:
            answer = result.output if self.return_output else ""
            return TaskResult(True, answer=answer, logged_output=logged, fields=fields)
        if self.background:
            reason = f"background task failed: {result.describe()}"
            last_line = _last_line(result.output)
            if last_line:
                reason += f": {last_line}"
        else:
            # Go's fmt.Errorf("command %s failed: %s: %w"): the combined output as it is, its
            # trailing newline kept (capped: run_process keeps the last OUTPUT_CAP bytes)
            reason = f"command {self.command} failed: {result.output}: {result.status_text()}"
        return TaskResult(False, reason, logged_output=logged, fields=fields,
                          timed_out=result.timed_out)


def _last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def cmd_task(payload: WebhookPayload, metadata: dict[str, str]) -> CommandTask:
    """`cmd`: `sh -c` in the background, de-duplicated while it runs."""
    command = require(metadata, "cmd")
    try:
        thresholds = thresholds_from_metadata(metadata)
    except LoadSpecError as exc:
        raise BadRequest(str(exc)) from None
    return CommandTask("cmd", payload, command, ("sh", "-c", command), background=True,
                       log_output=flag(metadata, "logCmdOutput"),
                       tool_target=load_tool_target(command), thresholds=thresholds)


def bash_task(payload: WebhookPayload, metadata: dict[str, str]) -> CommandTask:
    """`bash`: `bash -c`, blocking; the answer waits for the exit code."""
    command = require(metadata, "cmd")
    return CommandTask("bash", payload, command, ("bash", "-c", command), background=False,
                       return_output=flag(metadata, "returnCmdOutput"),
                       log_output=flag(metadata, "logCmdOutput"))


def _tool_task(tool: str, kind: str, payload: WebhookPayload,
               metadata: dict[str, str]) -> CommandTask:
    command = require(metadata, "cmd")
    # no shell: the command is split on whitespace, as the Go service does
    return CommandTask(kind, payload, command, (tool, *command.split()), background=False,
                       return_output=flag(metadata, "returnCmdOutput"),
                       log_output=flag(metadata, "logCmdOutput"))


def helm_task(payload: WebhookPayload, metadata: dict[str, str]) -> CommandTask:
    """`helm`: the helm binary with the command's words as arguments."""
    return _tool_task("helm", "helm", payload, metadata)


def helmv3_task(payload: WebhookPayload, metadata: dict[str, str]) -> CommandTask:
    """`helmv3`: `helm`, as the Go service runs it (Helm 3 is the only helm there is)."""
    return _tool_task("helm", "helmv3", payload, metadata)


def kubectl_task(payload: WebhookPayload, metadata: dict[str, str]) -> CommandTask:
    """`kubectl`: the kubectl binary with the command's words as arguments."""
    return _tool_task("kubectl", "kubectl", payload, metadata)
