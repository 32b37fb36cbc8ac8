"""Which factory builds the task of each `metadata.type`."""

from __future__ import annotations

from collections.abc import Callable

from loadtester.errors import BadRequest
from loadtester.excerpt import cut
from loadtester.models import WebhookPayload
from loadtester.tasks import concord, load, ngrinder, shell
from loadtester.tasks.base import DEFAULT_TYPE, Task

TaskFactory = Callable[[WebhookPayload, dict[str, str]], Task]

FACTORIES: dict[str, TaskFactory] = {
    "cmd": shell.cmd_task,
    "bash": shell.bash_task,
    "helm": shell.helm_task,
    "helmv3": shell.helmv3_task,
    "kubectl": shell.kubectl_task,
    "load": load.load_task,
    "concord": concord.concord_task,
    "ngrinder": ngrinder.ngrinder_task,
}


def build_task(payload: WebhookPayload) -> Task:
    """The task a payload asks for; BadRequest with the Go service's words when it can't."""
    if not payload.metadata:
        raise BadRequest("metadata not found in payload")
    kind = payload.metadata.get("type", DEFAULT_TYPE)
    factory = FACTORIES.get(kind)
    if factory is None:
        raise BadRequest(f"unknown task type {cut(kind)}")
    if kind != "load" and payload.metadata.get("compare", "").strip():
        # hey, ghz or a script sends to one target: a comparison would silently not happen
        raise BadRequest(f"metadata compare needs type: load (the built-in generator); "
                         f"type {cut(kind)} runs its command against one target")
    return factory(payload, payload.metadata)
