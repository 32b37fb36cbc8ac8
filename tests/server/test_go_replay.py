"""Replays Flagger's webhooks against the service and asserts the Go load tester's answers.

The cases are every webhook shape of Flagger's docs (docs/gitbook) and e2e tests (test/*/),
the cases of pkg/loadtester/*_test.go and the Go service's own checks (server.go, task_*.go,
concord.go), read from fluxcd/flagger at 15bd6ad. `GO` cases must answer byte for byte what
server.go answers; `DELIBERATE` cases are where we answer otherwise on purpose (each listed in
docs/migrating.md, with its switch where there is one).
"""

# ruff: noqa: E501  (the replay table: one case a line, as Flagger writes them)
from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from loadtester.keys import RUNNER
from tests.support.client import ClientFactory

MISSING_KEY = "/nonexistent/concord-api-key"


@dataclass(frozen=True)
class Case:
    """One request and the Go service's answer to it (None: Go crashes the request)."""

    name: str
    path: str
    body: Any  # a dict is sent as JSON, bytes as they are
    go: tuple[int, str] | None
    ours: tuple[int, str] | None = None  # set for a deliberate difference
    settings: dict[str, Any] = field(default_factory=dict)
    before: tuple[tuple[str, Any], ...] = ()  # requests sent first (a gate opened)


def hook(metadata: dict[str, str] | None, **fields: Any) -> dict[str, Any]:
    """The payload Flagger posts for a webhook (CanaryWebhookPayload)."""
    body: dict[str, Any] = {"name": "podinfo", "namespace": "test", "phase": "Progressing",
                            "checksum": "85d557f47b", **fields}
    if metadata is not None:
        body["metadata"] = metadata
    return body


def go_test(metadata: dict[str, str]) -> dict[str, Any]:
    """json.Marshal of server_test.go's payload: empty name, namespace, phase and checksum."""
    return {"name": "", "namespace": "", "phase": "", "checksum": "", "metadata": metadata}


CONCORD_DOCS = {"type": "concord", "org": "your-concord-org", "project": "your-concord-project",
                "repo": "your-concord-repo", "entrypoint": "your-concord-entrypoint",
                "apiKeyPath": MISSING_KEY, "endpoint": "https://canary-endpoint/",
                "pollInterval": "5", "pollTimeout": "60"}
CONCORD_GO_TEST = {"type": "concord", "server": "example.org", "project": "my project",
                   "repo": "my repo", "org": "my org", "entrypoint": "my-entrypoint",
                   "endpoint": "example.org/path/to/thing", "apiKeyPath": "/"}
NGRINDER_DOCS = {"type": "ngrinder", "server": "http://ngrinder-server:port", "clone": "100",
                 "username": "admin", "passwd": "YWRtaW4=", "pollInterval": "5s"}
GATE = {"name": "podinfo", "namespace": "test"}
OK, ACCEPTED, FORBIDDEN = (200, ""), (202, ""), (403, "Forbidden")

GO: list[Case] = [
    # docs/gitbook and test/*/test-canary.sh: load tests started in the background
    Case("cmd hey", "/", hook({"type": "cmd", "cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}), ACCEPTED),
    Case("cmd hey logCmdOutput", "/", hook({"type": "cmd", "cmd": "hey -z 1m -q 5 -c 2 -H 'X-Canary: insider' -host app.example.com http://gateway-proxy.gloo-system", "logCmdOutput": "true"}), ACCEPTED),
    Case("cmd without type", "/", hook({"cmd": "hey -z 1m -q 5 -c 2 http://podinfo-canary.test:9898/"}), ACCEPTED),
    Case("cmd ghz", "/", hook({"type": "cmd", "cmd": "ghz -z 1m -q 10 -c 2 --insecure podinfo.test:9898"}), ACCEPTED),
    Case("cmd curl logCmdOutput", "/", hook({"type": "cmd", "cmd": "curl -s http://podinfo.test/", "logCmdOutput": "true"}), ACCEPTED),
    Case("cmd hey POST body", "/", hook({"cmd": "hey -z 1m -q 10 -c 2 -m POST -d '{test: 2}' http://podinfo-canary.test:9898/echo"}), ACCEPTED),
    # acceptance tests: blocking bash checks
    Case("bash curl | grep", "/", hook({"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary:9898/token | grep token"}), OK),
    Case("bash curl logCmdOutput", "/", hook({"type": "bash", "cmd": "curl -sd 'test' -H 'Host: app.example.com' http://traefik.traefik/token | grep token", "logCmdOutput": "true"}), OK),
    Case("bash grpc_health_probe", "/", hook({"type": "bash", "cmd": "grpc_health_probe -connect-timeout=1s -addr=podinfo-canary:9999"}), OK),
    Case("bash bats", "/", hook({"type": "bash", "cmd": "bats /tests"}), OK),
    Case("bash check fails", "/", hook({"type": "bash", "cmd": "curl -sd 'anon' http://podinfo-canary.test:9898/token | grep nothing"}), (500, "command curl -sd 'anon' http://podinfo-canary.test:9898/token | grep nothing failed: : exit status 1")),
    # helm tests: helmv3 runs helm, argv split on whitespace
    Case("helmv3 test", "/", hook({"type": "helmv3", "cmd": "test podinfo -n test"}), OK),
    Case("helmv3 test rendered", "/", hook({"type": "helmv3", "cmd": "test podinfo --timeout 3m -n test"}), OK),
    Case("helm test fails", "/", hook({"type": "helm", "cmd": "fail podinfo"}), (500, "command fail podinfo failed: helm says hello\nerror: it broke\n: exit status 3")),
    Case("kubectl", "/", hook({"type": "kubectl", "cmd": "get pods -n test", "returnCmdOutput": "true"}), (200, "kubectl says hello\n")),
    # Concord and nGrinder as documented
    Case("concord docs, no server", "/", hook(CONCORD_DOCS), (500, "`server` is required with type concord")),
    Case("concord docs, key file missing", "/", hook({**CONCORD_DOCS, "server": "http://127.0.0.1:1"}), (500, f"`apiKeyPath` file doesn't exist {MISSING_KEY}")),
    Case("ngrinder docs literally", "/", hook(NGRINDER_DOCS), (400, 'invalid url: http://ngrinder-server:port: parse "http://ngrinder-server:port": invalid port ":port" after host')),
    Case("ngrinder docs", "/", hook({**NGRINDER_DOCS, "server": "http://127.0.0.1:1"}), ACCEPTED),
    Case("ngrinder bad pollInterval is 1s", "/", hook({**NGRINDER_DOCS, "server": "http://127.0.0.1:1", "clone": "101", "pollInterval": "often"}), ACCEPTED),
    # gates of docs/gitbook/usage/webhooks.md, and its curl commands
    Case("gate approve", "/gate/approve", hook(None), (200, "OK")),
    Case("gate halt", "/gate/halt", hook(None), FORBIDDEN),
    Case("gate check closed", "/gate/check", hook(None), FORBIDDEN),
    Case("curl gate open", "/gate/open", GATE, ACCEPTED),
    Case("gate check opened", "/gate/check", hook(None), (200, "Approved"), before=(("/gate/open", GATE),)),
    Case("curl gate close", "/gate/close", GATE, ACCEPTED),
    Case("gate check closed again", "/gate/check", hook(None), FORBIDDEN, before=(("/gate/open", GATE), ("/gate/close", GATE))),
    Case("rollback check closed", "/rollback/check", hook(None), FORBIDDEN),
    Case("curl rollback open", "/rollback/open", GATE, ACCEPTED),
    Case("rollback check opened", "/rollback/check", hook(None), (200, "Approved"), before=(("/rollback/open", GATE),)),
    Case("curl rollback close", "/rollback/close", GATE, ACCEPTED),
    # the tutorials' manual test and Go's payload checks, in server.go's order
    Case("tutorial curl name only", "/", {"name": "test"}, (400, "metadata not found in payload")),
    Case("gate open name only", "/gate/open", {"name": "test"}, ACCEPTED),
    Case("gate check name only", "/gate/check", {"name": "test"}, (200, "Approved"), before=(("/gate/open", {"name": "test"}),)),
    Case("empty metadata", "/", hook({}), (400, "metadata not found in payload")),
    Case("null metadata", "/", {**hook(None), "metadata": None}, (400, "metadata not found in payload")),
    Case("null body", "/", b"null", (400, "metadata not found in payload")),
    Case("cmd without cmd", "/", hook({"type": "cmd"}), (400, "cmd not found in metadata")),
    Case("namespace regexp before metadata", "/", {"name": "test", "namespace": "prod"}, FORBIDDEN, settings={"namespace_regexp": "^test$"}),
    Case("namespace regexp on gates", "/gate/open", {"name": "test"}, FORBIDDEN, settings={"namespace_regexp": "^test$"}),
    Case("namespace regexp before name check", "/gate/check", {"name": "Bad_Name", "namespace": "prod"}, FORBIDDEN, settings={"namespace_regexp": "^test$"}),
    Case("metadata check before name check", "/", {"name": "Bad_Name", "namespace": "test"}, (400, "metadata not found in payload")),
    Case("missing tool", "/", hook({"type": "kubectl", "cmd": "version"}), (500, 'command version failed: : exec: "kubectl": executable file not found in $PATH'), settings={"_path": "empty"}),
    Case("other path is a task", "/anything", hook({"type": "bash", "cmd": "true"}), OK),
    # pkg/loadtester/server_test.go
    Case("TestServer_HandleHealthz", "/healthz", b"", (200, "OK")),
    Case("TestServer_HandleNewBashTaskCmdExitZero", "/", go_test({"type": "bash", "cmd": "echo some-output-not-to-be-returned"}), OK),
    Case("TestServer_HandleNewBashTaskCmdExitZeroReturnCmdOutput", "/", go_test({"type": "bash", "cmd": "echo some-output-to-be-returned", "returnCmdOutput": "true"}), (200, "some-output-to-be-returned\n")),
    Case("TestServer_HandleNewBashTaskCmdExitNonZero", "/", go_test({"type": "bash", "cmd": "false"}), (500, "command false failed: : exit status 1")),
    # pkg/loadtester/concord_test.go, through the handler
    Case("TestNewConcordTask_Successful", "/", go_test(CONCORD_GO_TEST), (500, "read /: is a directory")),
    Case("TestNewConcordTask_InitializationWithoutAdequateArgs", "/", go_test({"type": "concord", "test": "foo"}), (500, "`server` is required with type concord")),
    Case("TestNewConcordTask_AdditionalArguments", "/", go_test({**CONCORD_GO_TEST, "arguments.test": "works"}), (500, "read /: is a directory")),
    Case("TestNewConcordTask_DontOverrideEndpoint", "/", go_test({**CONCORD_GO_TEST, "arguments.endpoint": "works"}), (500, "You cannot override Endpoint through arguments. You must override Endpoint directly")),
    Case("concord example.org with a key", "/", go_test({**CONCORD_GO_TEST, "apiKeyPath": "<key file>"}), (500, 'Post "/api/v1/process": unsupported protocol scheme ""')),
    Case("concord pollInterval not an int", "/", go_test({**CONCORD_GO_TEST, "pollInterval": "soon"}), (500, "unable to convert `pollInterval` to int")),
    # pkg/loadtester/task_ngrinder_test.go and runner_test.go (de-duplicated cmd tasks)
    Case("TestTaskNGrinder", "/", hook({"type": "ngrinder", "server": "http://127.0.0.1:1", "clone": "960", "username": "admin", "passwd": "YWRtaW4=", "pollInterval": "1s"}), ACCEPTED),
    Case("ngrinder required", "/", hook({"type": "ngrinder", "server": "http://x"}), (400, "server, clone, username and passwd are required metadata")),
    Case("ngrinder clone", "/", hook({**NGRINDER_DOCS, "clone": "x"}), (400, 'invalid url: http://ngrinder-server:port: parse "http://ngrinder-server:port": invalid port ":port" after host')),
    Case("ngrinder clone not an int", "/", hook({**NGRINDER_DOCS, "server": "http://x", "clone": "x"}), (400, 'metadata clone must be integer: strconv.Atoi: parsing "x": invalid syntax')),
    Case("TestTaskRunner_Start", "/", hook({"type": "cmd", "cmd": "sleep 0.6"}), ACCEPTED, before=(("/", hook({"type": "cmd", "cmd": "sleep 0.6"})),)),
]

DELIBERATE: list[Case] = [
    # (switch) in the comment; none means the difference is always on
    Case("unknown type", "/", hook({"type": "bogus", "cmd": "true"}), None, (400, "unknown task type bogus")),
    Case("bash without cmd", "/", hook({"type": "bash"}), OK, (400, "cmd not found in metadata")),
    Case("helm without cmd", "/", hook({"type": "helm"}), OK, (400, "cmd not found in metadata")),
    Case("name not a Kubernetes name", "/gate/open", {"name": "Podinfo", "namespace": "test"}, ACCEPTED, (400, 'invalid payload: name "Podinfo" is not a valid Kubernetes name')),
    Case("namespace with a dot", "/", hook({"type": "bash", "cmd": "true"}, namespace="a.b"), OK, (400, 'invalid payload: namespace "a.b" is not a valid Kubernetes namespace')),
    Case("lone surrogate", "/", hook({"type": "bash", "cmd": "echo \ud800"}), OK, (400, "invalid payload: metadata.cmd contains a lone UTF-16 surrogate (\\ud800)")),
    Case("non-string metadata", "/", hook({"type": "bash", "cmd": "true", "retries": 3}), (400, ""), OK),  # type: ignore[dict-item]
    Case("invalid JSON", "/", b"{", (400, ""), (400, "invalid JSON payload: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)")),
    # -background-failures=ignore gives Go's 202
    Case("background failure reported", "/", hook({"type": "cmd", "cmd": "exit 3"}), ACCEPTED, (500, "background task failed: exit status 3"), before=(("/", hook({"type": "cmd", "cmd": "exit 3"})),)),
    Case("concord pollInterval 0", "/", go_test({**CONCORD_GO_TEST, "pollInterval": "0"}), None, (500, "`pollInterval` must be a positive number of seconds")),
]


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake helm, kubectl, curl, grpc_health_probe, bats, hey and ghz first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "helm": 'echo helm says hello\ncase "$1" in fail) echo "error: it broke"; exit 3;; esac',
        "kubectl": "echo kubectl says hello",
        "curl": 'case "$*" in *anon*) echo anonymous;; *) echo token;; esac',
        "grpc_health_probe": "echo status: SERVING",
        "bats": "echo ok",
        "hey": "sleep 0.2",
        "ghz": "sleep 0.2",
    }
    for tool, text in scripts.items():
        script = bin_dir / tool
        script.write_text(f"#!/bin/sh\n{text}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


async def answer(make_client: ClientFactory, case: Case, tools: Path,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The status and body our service gives to the case's request."""
    settings = dict(case.settings)
    if settings.pop("_path", None) == "empty":
        empty = tools / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    client = await make_client(**settings)
    key = tools / "concord-key"
    key.write_text("concord-api-key\n")

    async def send(path: str, body: Any) -> tuple[int, str]:
        data = body if isinstance(body, bytes) else json.dumps(body).replace(
            '"<key file>"', json.dumps(str(key))).encode()
        async with client.post(path, data=data) as response:
            return response.status, await response.text()

    for path, body in case.before:
        await send(path, body)
        for running in client.server.app[RUNNER].running:  # let a background run end
            await asyncio.gather(running.future, return_exceptions=True)
    return await send(case.path, case.body)


@pytest.mark.parametrize("case", GO, ids=[case.name for case in GO])
async def test_go_answer(make_client: ClientFactory, tools: Path,
                         monkeypatch: pytest.MonkeyPatch, case: Case) -> None:
    """Flagger's webhook gets the Go load tester's status and body, byte for byte."""
    assert await answer(make_client, case, tools, monkeypatch) == case.go


@pytest.mark.parametrize("case", DELIBERATE, ids=[case.name for case in DELIBERATE])
async def test_deliberate_difference(make_client: ClientFactory, tools: Path,
                                     monkeypatch: pytest.MonkeyPatch, case: Case) -> None:
    """Where we answer otherwise on purpose, we answer as docs/migrating.md documents."""
    assert case.ours is not None and case.ours != case.go
    assert await answer(make_client, case, tools, monkeypatch) == case.ours


async def test_background_failures_ignore_is_go(make_client: ClientFactory,
                                                tools: Path) -> None:
    """-background-failures=ignore: a failed background task answers Go's 202 again."""
    client = await make_client(background_failures="ignore")
    body = json.dumps(hook({"type": "cmd", "cmd": "exit 3"}))
    for _ in range(2):
        async with client.post("/", data=body) as response:
            assert (response.status, await response.text()) == ACCEPTED
        for running in client.server.app[RUNNER].running:
            await asyncio.gather(running.future, return_exceptions=True)


def test_replay_figures() -> None:
    """The figures of the replay, as docs/migrating.md gives them."""
    assert (len(GO) + len(DELIBERATE), len(GO), len(DELIBERATE)) == (69, 59, 10)
