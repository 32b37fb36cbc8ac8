"""POST / task rows of the contract: status codes and bodies of cmd, bash, helm and kubectl."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from tests.support.client import ClientFactory
from tests.support.processes import wait_for_file, wait_gone
from tests.support.tasks import payload, post, wait_idle


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`helm`, `helmv3` and `kubectl` on PATH that record their argv, one word per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("helm", "helmv3", "kubectl"):
        script = bin_dir / tool
        script.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\n' \"$@\" > {tmp_path}/{tool}.argv\n"
            f"echo {tool} says hello\n"
            'case "$1" in fail) echo "error: it broke"; exit 3;; esac\n'
        )
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


async def test_no_metadata(make_client: ClientFactory) -> None:
    """A payload without metadata: 400 `metadata not found in payload`."""
    client = await make_client()
    assert await post(client, payload(None)) == (400, "metadata not found in payload")


async def test_unknown_type(make_client: ClientFactory) -> None:
    """An unknown task type: 400 `unknown task type <type>`."""
    client = await make_client()
    assert await post(client, payload({"type": "bogus", "cmd": "true"})) == (
        400,
        "unknown task type bogus",
    )


@pytest.mark.parametrize("kind", ["cmd", "bash", "helm", "helmv3", "kubectl", None])
async def test_cmd_missing(make_client: ClientFactory, kind: str | None) -> None:
    """A command task without `cmd`: 400 `cmd not found in metadata`."""
    client = await make_client()
    metadata = {"logCmdOutput": "true"} if kind is None else {"type": kind}
    assert await post(client, payload(metadata)) == (400, "cmd not found in metadata")


@pytest.mark.system
async def test_cmd_runs_in_background(make_client: ClientFactory, tmp_path: Path) -> None:
    """`cmd` (the default type) answers 202 at once and runs in the background."""
    client = await make_client()
    done = tmp_path / "done"
    started = time.monotonic()
    assert await post(client, payload({"cmd": f"sleep 1; echo ok > {done}"})) == (202, "")
    assert time.monotonic() - started < 0.9
    assert not done.exists()
    assert await wait_for_file(done) == "ok\n"


async def test_cmd_explicit_type(make_client: ClientFactory, tmp_path: Path) -> None:
    """`type: cmd` runs through sh, so shell syntax works."""
    client = await make_client()
    out = tmp_path / "out"
    assert await post(client, payload({"type": "cmd", "cmd": f"echo a | tr a b > {out}"})) == (
        202,
        "",
    )
    assert await wait_for_file(out) == "b\n"


@pytest.mark.system
async def test_cmd_dedup(make_client: ClientFactory, tmp_path: Path) -> None:
    """While a cmd runs, the same call answers 202 and starts nothing; after it ends it runs."""
    client = await make_client()
    log = tmp_path / "runs"
    body = payload({"type": "cmd", "cmd": f"echo run >> {log}; sleep 1"})
    assert await post(client, body) == (202, "")
    assert await post(client, body) == (202, "")
    assert await post(client, body) == (202, "")
    await wait_idle(client)
    assert log.read_text() == "run\n"
    assert await post(client, body) == (202, "")
    await wait_idle(client)
    assert log.read_text() == "run\nrun\n"


async def test_background_failure_reported(make_client: ClientFactory, tmp_path: Path) -> None:
    """A failed background run is reported on the next call with 500 and started again."""
    client = await make_client()
    log = tmp_path / "runs"
    body = payload({"cmd": f"echo run >> {log}; hye -z 1m http://podinfo-canary:9898/"})
    assert await post(client, body) == (202, "")
    await wait_idle(client)
    assert await post(client, body) == (
        500,
        "background task failed: exit status 127: sh: 1: hye: not found",
    )
    await wait_idle(client)
    assert log.read_text() == "run\nrun\n"


async def test_background_failures_ignore(make_client: ClientFactory, tmp_path: Path) -> None:
    """With background_failures=ignore a failed run keeps answering 202 (the Go behaviour)."""
    client = await make_client(background_failures="ignore")
    body = payload({"cmd": "exit 1"})
    assert await post(client, body) == (202, "")
    await wait_idle(client)
    assert await post(client, body) == (202, "")


async def test_background_limit(make_client: ClientFactory) -> None:
    """Past max_background_tasks POST / answers 429 with a reason."""
    client = await make_client(max_background_tasks=2)
    assert await post(client, payload({"cmd": "sleep 30"})) == (202, "")
    assert await post(client, payload({"cmd": "sleep 31"})) == (202, "")
    status, body = await post(client, payload({"cmd": "sleep 32"}))
    assert status == 429
    assert "too many background tasks" in body and "\n" not in body
    assert await post(client, payload({"cmd": "sleep 30"})) == (202, "")


async def test_bash_ok_empty(make_client: ClientFactory) -> None:
    """`bash` exit 0: 200 with an empty body."""
    client = await make_client()
    assert await post(client, payload({"type": "bash", "cmd": "echo hidden"})) == (200, "")


async def test_bash_return_output(make_client: ClientFactory) -> None:
    """`bash` with returnCmdOutput true: 200 with the command's output as body."""
    client = await make_client()
    body = payload({"type": "bash", "cmd": "echo one; echo two >&2", "returnCmdOutput": "true"})
    assert await post(client, body) == (200, "one\ntwo\n")


async def test_bash_is_bash(make_client: ClientFactory) -> None:
    """`bash` runs bash, so bash-only syntax works (the Flagger tutorial's curl | grep check)."""
    client = await make_client()
    body = payload(
        {
            "type": "bash",
            "cmd": "[[ $(echo podinfo) == pod* ]] && echo yes",
            "returnCmdOutput": "true",
        }
    )
    assert await post(client, body) == (200, "yes\n")


async def test_bash_failure(make_client: ClientFactory) -> None:
    """`bash` failure: 500 `command <cmd> failed: <output>: exit status <n>`."""
    client = await make_client()
    cmd = "echo 'no such version'; exit 1"
    assert await post(client, payload({"type": "bash", "cmd": cmd})) == (
        500,
        f"command {cmd} failed: no such version\n: exit status 1",  # Go keeps the newline
    )


async def test_bash_failure_not_remembered(make_client: ClientFactory) -> None:
    """A failing check fails each time it runs and succeeds once its command does."""
    client = await make_client()
    assert (await post(client, payload({"type": "bash", "cmd": "exit 2"})))[0] == 500
    assert (await post(client, payload({"type": "bash", "cmd": "exit 2"})))[0] == 500
    assert await post(client, payload({"type": "bash", "cmd": "true"})) == (200, "")


async def test_bash_timeout(make_client: ClientFactory, tmp_path: Path) -> None:
    """A check past -timeout answers 500 and its process group is gone."""
    client = await make_client(timeout=0.5, kill_grace=0.5)
    pids = tmp_path / "pids"
    status, body = await post(
        client, payload({"type": "bash", "cmd": f"sleep 300 & echo $$ $! > {pids}; wait"})
    )
    assert status == 500
    assert body.endswith(": signal: killed")  # Go's exec error on the deadline
    assert await wait_gone([int(word) for word in pids.read_text().split()]) == []


@pytest.mark.system
async def test_blocking_checks_concurrent(make_client: ClientFactory) -> None:
    """Eight 1-second bash checks of eight canaries finish in about one second."""
    client = await make_client()
    started = time.monotonic()
    answers = await asyncio.gather(
        *(
            post(client, payload({"type": "bash", "cmd": "sleep 1"}, name=f"canary{i}"))
            for i in range(8)
        )
    )
    assert answers == [(200, "")] * 8
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("tool", ["helm", "helmv3", "kubectl"])
async def test_tool_argv_without_shell(
    make_client: ClientFactory, fake_tools: Path, tool: str
) -> None:
    """helm/helmv3/kubectl get the command split on whitespace; shell syntax stays words."""
    client = await make_client()
    pwned = fake_tools / "pwned"
    cmd = f"upgrade -i podinfo ./chart --set x=1;touch\t{pwned} $(id) | cat"
    body = payload({"type": tool, "cmd": cmd, "returnCmdOutput": "true"})
    binary = "helm" if tool == "helmv3" else tool  # Go runs helm for helmv3
    assert await post(client, body) == (200, f"{binary} says hello\n")
    argv = (fake_tools / f"{binary}.argv").read_text().splitlines()
    assert argv == [
        "upgrade",
        "-i",
        "podinfo",
        "./chart",
        "--set",
        "x=1;touch",
        str(pwned),
        "$(id)",
        "|",
        "cat",
    ]
    assert not pwned.exists()


@pytest.mark.parametrize("tool", ["helm", "kubectl"])
async def test_tool_ok_empty(make_client: ClientFactory, fake_tools: Path, tool: str) -> None:
    """A tool that exits 0 answers 200 with an empty body unless returnCmdOutput is set."""
    client = await make_client()
    assert await post(client, payload({"type": tool, "cmd": "get pods"})) == (200, "")


@pytest.mark.parametrize("tool", ["helm", "kubectl"])
async def test_tool_failure(make_client: ClientFactory, fake_tools: Path, tool: str) -> None:
    """A failing tool answers 500 `command <cmd> failed: <output>: exit status <n>`."""
    client = await make_client()
    status, body = await post(client, payload({"type": tool, "cmd": "fail now"}))
    assert (status, body) == (
        500,
        f"command fail now failed: {tool} says hello\nerror: it broke\n: exit status 3",
    )


async def test_tool_not_installed(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A tool missing from PATH is a 500 failed check naming it, not a crash."""
    monkeypatch.setenv("PATH", str(tmp_path))
    client = await make_client()
    status, body = await post(client, payload({"type": "kubectl", "cmd": "get pods"}))
    assert status == 500
    assert body.startswith("command get pods failed: ") and "kubectl" in body


async def test_any_path_runs_tasks(make_client: ClientFactory) -> None:
    """Like the Go service, a path no other route claims takes tasks too."""
    client = await make_client()
    assert await post(client, payload({"type": "bash", "cmd": "true"}), "/run") == (200, "")
    assert await post(client, payload(None), "/anything/else") == (
        400,
        "metadata not found in payload",
    )


async def test_terminal_phase_stops_background(make_client: ClientFactory, tmp_path: Path) -> None:
    """A call in a terminal phase ends the canary's running background tasks."""
    client = await make_client()
    pids = tmp_path / "pids"
    assert await post(client, payload({"cmd": f"echo $$ > {pids}; exec sleep 300"})) == (202, "")
    pgid = int(await wait_for_file(pids))
    body = payload({"type": "bash", "cmd": "true"}, phase="Succeeded")
    assert await post(client, body) == (200, "")
    assert await wait_gone([pgid]) == []


async def test_log_cmd_output_accepted(make_client: ClientFactory) -> None:
    """logCmdOutput true is accepted on cmd and bash."""
    client = await make_client()
    assert await post(client, payload({"cmd": "echo x", "logCmdOutput": "true"})) == (202, "")
    assert await post(
        client, payload({"type": "bash", "cmd": "echo x", "logCmdOutput": "true"})
    ) == (200, "")
    await wait_idle(client)
