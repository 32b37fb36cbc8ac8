"""`loadtester status|gate|rollback|tasks`: the real command against a real service."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import GATE, REPO, Service, StartService, free_port

pytestmark = pytest.mark.system

ADMIN, TEAM = "cli-admin-token-0123456789", "cli-team-token-0123456789"


def cli(*args: str, url: str = "", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `python -m loadtester ARGS` (stdout is a pipe)."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO),
               **(env or {})}
    command = [sys.executable, "-m", "loadtester", *args, *([f"--url={url}"] if url else [])]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environ)
    return run.returncode, run.stdout, run.stderr


def post(port: int, path: str, body: dict[str, Any], token: str = "") -> int:
    """Status of one webhook call to the service."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", path, body=json.dumps(body), headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def started(start_service: StartService, tmp_path: Path, *flags: str) -> tuple[Service, str]:
    """A healthy service and its URL."""
    service = start_service(f"-state={tmp_path / 'state'}", "-log-level=info",
                            "-load-workers=1", *flags)
    service.wait_healthy()
    return service, f"http://127.0.0.1:{service.port}"


def wait_listed(url: str, canary: str, *extra: str) -> dict[str, Any]:
    """The canary as `loadtester status -o json` shows it, once the service recorded it."""
    deadline = time.monotonic() + 15
    while True:
        code, out, err = cli("status", "-o", "json", *extra, url=url)
        assert code == 0, err
        found = {item["id"]: item for item in json.loads(out)["canaries"]}
        if canary in found:
            return found[canary]
        assert time.monotonic() < deadline, out
        time.sleep(0.1)


def test_status_json_and_table(start_service: StartService, tmp_path: Path) -> None:
    """`status` prints JSON when piped (as -o json) and a table with -o table."""
    service, url = started(start_service, tmp_path)
    assert post(service.port, "/gate/check", GATE) == 403
    canary = wait_listed(url, "podinfo.test")
    assert canary["checksum"] == "abc" and canary["gate"]["open"] is False
    code, out, _ = cli("status", url=url)
    assert code == 0 and json.loads(out)["canaries"][0]["id"] == "podinfo.test"
    code, out, _ = cli("status", "-o", "table", url=url)
    header, row = out.splitlines()
    assert code == 0 and header.split()[:4] == ["CANARY", "PHASE", "SINCE", "REVISION"]
    assert row.split()[:2] == ["podinfo.test", "Progressing"] and "closed" in row.split()
    code, out, _ = cli("status", env={"LOADTESTER_URL": url})
    assert code == 0 and "podinfo.test" in out


def test_gate_and_rollback(start_service: StartService, tmp_path: Path) -> None:
    """`gate open` approves the current revision only; `check` answers with its exit code."""
    service, url = started(start_service, tmp_path)
    assert post(service.port, "/gate/check", GATE) == 403
    wait_listed(url, "podinfo.test")
    code, out, _ = cli("gate", "check", "podinfo.test", "-o", "table", url=url)
    assert (code, out.strip()) == (1, "podinfo.test: not approved (gate closed)")
    code, out, _ = cli("gate", "open", "podinfo.test", "-o", "table", url=url)
    assert (code, out.strip()) == (0, "podinfo.test: gate opened, bound to revision abc")
    assert post(service.port, "/gate/check", GATE) == 200
    assert post(service.port, "/gate/check", {**GATE, "checksum": "other"}) == 403
    code, out, _ = cli("gate", "check", "podinfo.test", url=url)
    assert code == 1 and json.loads(out)["approved"] is False  # "other" is current now
    assert post(service.port, "/gate/check", GATE) == 200
    wait_until_checksum(url, "podinfo.test", "abc")
    assert cli("gate", "check", "podinfo.test", url=url)[0] == 0
    assert cli("gate", "close", "podinfo.test", url=url)[0] == 0
    assert post(service.port, "/gate/check", GATE) == 403
    assert cli("rollback", "check", "podinfo.test", url=url)[0] == 1
    code, out, _ = cli("rollback", "open", "podinfo.test", url=url)
    assert code == 0 and json.loads(out)["rollback"]["open"] is True
    assert post(service.port, "/rollback/check", GATE) == 200
    assert cli("rollback", "check", "podinfo.test", url=url)[0] == 0
    assert cli("rollback", "close", "podinfo.test", url=url)[0] == 0
    assert post(service.port, "/rollback/check", GATE) == 403
    assert service.stop() == 0
    lines = [json.loads(line) for line in service.log_lines() if line.startswith("{")]
    assert [line["event"] for line in lines if line["event"].startswith(("gate ", "rollback "))
            ] == ["gate opened", "gate closed", "rollback opened", "rollback closed"]


def wait_until_checksum(url: str, canary: str, checksum: str) -> None:
    """Until the service records `checksum` as the canary's current revision."""
    deadline = time.monotonic() + 15
    while wait_listed(url, canary)["checksum"] != checksum:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_tasks_and_cancel(start_service: StartService, tmp_path: Path) -> None:
    """`tasks` lists the running `sleep 30`, `tasks --cancel ID` stops it."""
    service, url = started(start_service, tmp_path)
    assert post(service.port, "/", {**GATE, "metadata": {"type": "cmd", "cmd": "sleep 30"}}) == 202
    deadline = time.monotonic() + 15
    while not (tasks := json.loads(cli("tasks", url=url)[1])["tasks"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (task,) = tasks
    code, out, _ = cli("tasks", "-o", "table", url=url)
    assert code == 0 and task["id"] in out and "running" in out
    code, out, _ = cli("tasks", "--cancel", task["id"], "-o", "table", url=url)
    assert (code, out.strip()) == (0, "cancelled cmd task of podinfo.test: sleep 30")
    code, out, _ = cli("tasks", "-o", "table", url=url)
    assert code == 0 and out.startswith("no running task")
    code, out, _ = cli("tasks", "--all", url=url)
    (ended,) = json.loads(out)["tasks"]
    assert ended["outcome"] == "cancelled"
    code, _, err = cli("tasks", "--cancel", task["id"], url=url)
    assert code == 1 and "already ended" in err
    assert cli("tasks", "--cancel", "no-such-task", url=url)[0] == 1


def test_invisible_characters_are_escaped_in_tables(start_service: StartService,
                                                    tmp_path: Path) -> None:
    """A bidi override (U+202E), zero-width characters and a terminal escape in a command and
    a checksum print as `\\u202e`, `\\u200b`, `\\u001b` in `tasks` and `status` tables."""
    service, url = started(start_service, tmp_path)
    checksum = "r\u202eev-1\u200b"
    command = "sleep 30 # \u202egnp.exe\u200b\x1b[2J"
    body = {**GATE, "checksum": checksum, "metadata": {"type": "cmd", "cmd": command}}
    assert post(service.port, "/", body) == 202
    deadline = time.monotonic() + 15
    while not (tasks := json.loads(cli("tasks", url=url)[1])["tasks"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert tasks[0]["description"] == command  # the JSON output keeps the data as it is
    raw = ("\u202e", "\u200b", "\x1b")
    code, out, _ = cli("tasks", "-o", "table", url=url)
    assert code == 0 and "sleep 30 # \\u202egnp.exe\\u200b\\u001b[2J" in out
    assert not any(char in out for char in raw)
    code, out, _ = cli("status", "-o", "table", url=url)
    assert code == 0 and "r\\u202eev-1\\u200b" in out
    assert not any(char in out for char in raw)
    code, out, _ = cli("tasks", "--cancel", tasks[0]["id"], "-o", "table", url=url)
    assert code == 0 and out.strip().endswith("sleep 30 # \\u202egnp.exe\\u200b\\u001b[2J")


def test_exit_codes_without_service(tmp_path: Path) -> None:
    """Usage errors exit 2, an unreachable service 3, each with one line on stderr."""
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = cli("status", url=url)
    assert code == 3 and "cannot reach" in err and len(err.splitlines()) == 1
    assert cli("gate", "open", url=url)[0] == 2
    assert cli("gate", "approve", "podinfo.test", url=url)[0] == 2
    code, _, err = cli("gate", "open", "nodot", url=url)
    assert code == 2 and "NAME.NAMESPACE" in err
    code, _, err = cli("status", f"--token-file={tmp_path / 'missing'}", url=url)
    assert code == 2 and "cannot read token file" in err
    code, out, _ = cli("gate", "--help")
    assert code == 0 and "exit codes:" in out


def test_token_files(start_service: StartService, tmp_path: Path) -> None:
    """A bare token or the service's own token file logs in; none or another namespace: 4."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# tokens\n* {ADMIN} admin\ntest {TEAM} team\n")
    bare = tmp_path / "bare"
    bare.write_text(f"\n# the team's token\n{TEAM}\n")
    service, url = started(start_service, tmp_path, f"-token-file={tokens}")
    other = {**GATE, "name": "frontend", "namespace": "shop"}
    assert post(service.port, "/gate/check", GATE, ADMIN) == 403
    assert post(service.port, "/gate/check", other, ADMIN) == 403
    wait_listed(url, "frontend.shop", f"--token-file={tokens}")
    code, _, err = cli("status", url=url)
    assert code == 4 and "401" in err
    code, out, _ = cli("status", f"--token-file={bare}", url=url)
    assert code == 0 and [c["id"] for c in json.loads(out)["canaries"]] == ["podinfo.test"]
    code, _, err = cli("gate", "open", "frontend.shop", f"--token-file={bare}", url=url)
    assert code == 4 and "403" in err
    assert cli("gate", "check", "frontend.shop", f"--token-file={bare}", url=url)[0] == 1
    code, _, _ = cli("gate", "open", "frontend.shop", env={"LOADTESTER_TOKEN_FILE": str(tokens)},
                     url=url)
    assert code == 0 and post(service.port, "/gate/check", other, ADMIN) == 200


@pytest.mark.parametrize("text", ["", "# only a comment\n", "a b c d\n"])
def test_unusable_token_file(tmp_path: Path, text: str) -> None:
    """A token file without a token, or with a line of neither format, is a usage error."""
    path = tmp_path / "tokens"
    path.write_text(text)
    code, _, err = cli("status", f"--token-file={path}", url="http://127.0.0.1:1")
    assert code == 2 and "token file" in err and "a b c d" not in err
