"""-token-file: the token file, 401s on payload endpoints, tokens kept away from tasks and logs."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from loadtester.auth import Authorizer, TokenFileError, load_token_file
from loadtester.cli import main
from loadtester.errors import Unauthorized
from loadtester.keys import RUNNER, STATE
from loadtester.models import WebhookPayload
from loadtester.state.base import gate_key
from loadtester.tasks.base import Task, TaskResult
from tests.support.client import ClientFactory
from tests.support.service import StartService
from tests.support.tokens import ADMIN, TEAM_A, TOKENS

GATE = {"name": "podinfo", "namespace": "team-a", "phase": "Progressing", "checksum": "abc"}


def bearer(token: str) -> dict[str, str]:
    """The Authorization header carrying a token."""
    return {"Authorization": f"Bearer {token}"}


def with_token(token: str, **metadata: str) -> dict[str, Any]:
    """The gate payload with metadata (and metadata.token)."""
    return {**GATE, "metadata": {**metadata, "token": token}}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A token file: one token for team-a, one named `alice` for every namespace."""
    path = tmp_path / "tokens"
    path.write_text(TOKENS)
    return path


async def answer(client: Any, path: str, body: dict[str, Any],
                 headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of one POST."""
    async with client.post(path, data=json.dumps(body), headers=headers) as response:
        return response.status, await response.text()


def test_token_file_lines(token_file: Path) -> None:
    """Comments and blank lines are skipped; a third field names the token's holder."""
    tokens = load_token_file(str(token_file))
    assert [(t.namespace, t.secret, t.name) for t in tokens] == [
        ("team-a", TEAM_A.encode(), ""), ("*", ADMIN.encode(), "alice")]
    assert TEAM_A not in repr(tokens)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (f"team-a {TEAM_A}\nlonely\n", 2, "expected NAMESPACE TOKEN [NAME], found 1 fields"),
        (f"\n# c\nteam-a {TEAM_A} bob extra\n", 3, "found 4 fields"),
        (f"Team_A {TEAM_A}\n", 1, '"Team_A" is not a Kubernetes namespace or *'),
        (f"a.b {TEAM_A}\n", 1, '"a.b" is not a Kubernetes namespace'),
        (f"team-a {TEAM_A}\n* x\n", 2, "the token is shorter than 16 characters"),
        ("team-a fifteen-chars-xx\nteam-b 15-characters-x\n", 2, "shorter than 16"),
    ],
)
def test_bad_token_file_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    """A bad line is one error naming the file and the line, never echoing the token."""
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(TokenFileError) as error:
        load_token_file(str(path))
    message = str(error.value)
    assert message.startswith(f"token file {path} line {line}: ")
    assert reason in message and TEAM_A not in message and "\n" not in message


def test_token_file_with_crlf_line_endings(tmp_path: Path) -> None:
    """A token file written with CRLF line endings yields the same tokens as with LF."""
    unix, windows = tmp_path / "unix", tmp_path / "windows"
    unix.write_bytes(TOKENS.encode())
    windows.write_bytes(TOKENS.replace("\n", "\r\n").encode())
    assert b"\r\n" in windows.read_bytes()
    assert load_token_file(str(windows)) == load_token_file(str(unix))
    assert all(not token.secret.endswith(b"\r") for token in load_token_file(str(windows)))


def test_empty_or_missing_token_file(tmp_path: Path) -> None:
    """A file without tokens, or no file at all, is refused (nobody could call the service)."""
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(TokenFileError, match="holds no token"):
        load_token_file(str(empty))
    with pytest.raises(TokenFileError, match="cannot read token file"):
        load_token_file(str(tmp_path / "missing"))


def test_bad_token_file_stops_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`loadtester -token-file=F` with a bad line exits 2 with one line naming F and the line."""
    monkeypatch.delenv("LOADTESTER_TOKEN_FILE", raising=False)
    path = tmp_path / "tokens"
    path.write_text(f"team-a {TEAM_A}\nteam-b\n")
    assert main([f"-token-file={path}", "-state=memory"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"loadtester: token file {path} line 2: expected NAMESPACE TOKEN [NAME], "
                     f"found 1 fields"]


def test_authorizer_compares_per_namespace(token_file: Path) -> None:
    """A namespace's token opens that namespace only; `*` opens any; a header wins."""
    authorizer = Authorizer("", load_token_file(str(token_file)))
    team_a = WebhookPayload(name="p", namespace="team-a", metadata={"token": TEAM_A, "x": "1"})
    grant = authorizer.authorize(team_a, None)
    assert grant.payload.metadata == {"x": "1"} and grant.caller == ""
    assert authorizer.authorize(team_a, f"Bearer {ADMIN}").caller == "alice"
    team_b = team_a.model_copy(update={"namespace": "team-b"})
    with pytest.raises(Unauthorized, match='invalid token for namespace "team-b"'):
        authorizer.authorize(team_b, None)
    with pytest.raises(Unauthorized, match="not of type Bearer"):
        authorizer.authorize(team_a, f"Basic {TEAM_A}")
    with pytest.raises(Unauthorized, match="gate changes need the Authorization header"):
        authorizer.authorize(team_a, None, header_only=True)


async def test_without_token_file_nothing_changes(make_client: ClientFactory) -> None:
    """By default no token is asked for, and metadata.token is left alone (drop-in)."""
    client = await make_client()
    assert await answer(client, "/gate/open", GATE) == (202, "")
    assert await answer(client, "/gate/check", with_token("whatever")) == (200, "Approved")


async def test_payload_endpoints_need_the_token(make_client: ClientFactory,
                                                token_file: Path) -> None:
    """POST /, the checks and /events answer 401 without the namespace's token."""
    client = await make_client(token_file=str(token_file))
    bash = {**GATE, "metadata": {"type": "bash", "cmd": "echo ran", "returnCmdOutput": "true"}}
    for path, body in (("/", bash), ("/gate/check", GATE), ("/rollback/check", GATE),
                       ("/events", GATE)):
        status, text = await answer(client, path, body)
        assert (status, text) == (401, 'no token for namespace "team-a" in metadata.token or '
                                       'the Authorization header (Bearer)'), path
    with_wrong = {**bash, "metadata": {**bash["metadata"], "token": "guess"}}
    assert await answer(client, "/", with_wrong) == (401, 'invalid token for namespace "team-a"')
    with_right = {**bash, "metadata": {**bash["metadata"], "token": TEAM_A}}
    assert await answer(client, "/", with_right) == (200, "ran\n")
    assert await answer(client, "/", bash, bearer(ADMIN)) == (200, "ran\n")
    other = {**with_right, "namespace": "team-b"}
    assert await answer(client, "/", other) == (401, 'invalid token for namespace "team-b"')


async def test_gate_changes_need_the_header(make_client: ClientFactory, token_file: Path) -> None:
    """/gate/open and /rollback/close take the token from the header only; checks from metadata."""
    client = await make_client(token_file=str(token_file))
    status, text = await answer(client, "/gate/open", with_token(TEAM_A))
    assert status == 401 and text.startswith("gate changes need the Authorization header")
    assert await answer(client, "/gate/check", with_token(TEAM_A)) == (403, "Forbidden")
    assert await answer(client, "/gate/open", GATE, bearer("nope")) == (
        401, 'invalid token for namespace "team-a"')
    assert await answer(client, "/gate/open", GATE, bearer(TEAM_A)) == (202, "")
    assert await answer(client, "/gate/check", with_token(TEAM_A)) == (200, "Approved")
    assert await answer(client, "/rollback/close", GATE, bearer(TEAM_A)) == (202, "")


async def test_open_endpoints_stay_open(make_client: ClientFactory, token_file: Path) -> None:
    """/healthz, /readyz, /metrics, /gate/approve and /gate/halt need no token."""
    client = await make_client(token_file=str(token_file))
    for path, status in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200),
                         ("/gate/approve", 200), ("/gate/halt", 403)):
        async with client.get(path) as response:
            assert response.status == status, path


async def test_token_never_reaches_a_task_or_a_log(
    make_client: ClientFactory, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """metadata.token is removed before the task is built; no log line or answer carries it."""
    client = await make_client(token_file=str(token_file))
    runner = client.server.app[RUNNER]
    seen: list[dict[str, str] | None] = []
    run_blocking = runner.run_blocking

    async def spy(task: Task, *args: Any, **kwargs: Any) -> TaskResult:
        seen.append(task.payload.metadata)
        return await run_blocking(task, *args, **kwargs)

    monkeypatch.setattr(runner, "run_blocking", spy)
    with capture_logs() as logs:
        ok = await answer(client, "/", with_token(TEAM_A, type="bash", cmd="env"))
        refused = await answer(client, "/", with_token(TEAM_A + "x", type="bash", cmd="env"))
    assert ok[0] == 200 and refused[0] == 401
    assert seen == [{"type": "bash", "cmd": "env"}]
    assert TEAM_A not in repr(logs) and TEAM_A not in ok[1] + refused[1]
    (warning,) = [log for log in logs if log["event"] == "unauthorized"]
    assert warning["remote"] == "127.0.0.1" and warning["log_level"] == "warning"
    assert warning["reason"] == 'invalid token for namespace "team-a"'


async def test_gate_change_records_the_token_name(make_client: ClientFactory,
                                                  token_file: Path) -> None:
    """A gate opened with a named token is logged and stored with `by` that name."""
    client = await make_client(token_file=str(token_file))
    with capture_logs() as logs:
        assert await answer(client, "/gate/open", GATE, bearer(ADMIN)) == (202, "")
    (opened,) = [log for log in logs if log["event"] == "gate opened"]
    assert opened["by"] == "alice" and opened["remote"] == "127.0.0.1"
    change = await client.server.app[STATE].gates.get(gate_key("podinfo", "team-a"))
    assert change is not None and change.by == "alice@127.0.0.1"


def post(port: int, path: str, body: dict[str, Any],
         headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of one POST to a running service."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=json.dumps(body), headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.mark.system
def test_token_file_in_a_running_service(start_service: StartService, token_file: Path,
                                         tmp_path: Path) -> None:
    """The real process reads LOADTESTER_TOKEN_FILE at start-up and answers 401 without it."""
    service = start_service("-state=memory", "-log-level=info",
                            env={"LOADTESTER_TOKEN_FILE": str(token_file)})
    service.wait_healthy()
    assert post(service.port, "/gate/open", GATE) == (
        401, 'gate changes need the Authorization header (Bearer) with a token of namespace '
             '"team-a"')
    assert post(service.port, "/gate/open", GATE, bearer(TEAM_A)) == (202, "")
    assert post(service.port, "/gate/check", with_token(TEAM_A)) == (200, "Approved")
    assert post(service.port, "/gate/check", GATE)[0] == 401
    assert service.stop() == 0
    log = "\n".join(service.log_lines())
    assert "tokens required" in log and TEAM_A not in log and ADMIN not in log
    bad = tmp_path / "bad-tokens"
    bad.write_text("team-a\n")
    broken = start_service(f"-token-file={bad}", "-state=memory")
    assert broken.process.wait(30) == 2
    assert broken.log_lines() == [f"loadtester: token file {bad} line 1: expected NAMESPACE "
                                  f"TOKEN [NAME], found 1 fields"]
