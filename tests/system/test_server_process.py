"""The real service as a subprocess: start-up, serving, SIGTERM without orphans, durable gates."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.processes import alive, group_members
from tests.support.service import (
    GATE,
    REPO,
    StartService,
    free_port,
    request,
)

pytestmark = pytest.mark.system


def test_flagger_command_line_serves(start_service: StartService, tmp_path: Path) -> None:
    """`loadtester -port=P -log-level=info -timeout=1h` starts and serves every endpoint."""
    service = start_service("-log-level=info", "-timeout=1h", f"-state={tmp_path / 'st'}")
    service.wait_healthy()
    assert request(service.port, "/healthz", method="GET") == (200, "OK")
    assert request(service.port, "/gate/approve", method="GET") == (200, "OK")
    assert request(service.port, "/gate/halt", method="GET") == (403, "Forbidden")
    assert request(service.port, "/gate/check", GATE) == (403, "Forbidden")
    assert request(service.port, "/gate/open", GATE) == (202, "")
    assert request(service.port, "/gate/check", GATE) == (200, "Approved")
    assert request(service.port, "/rollback/check", GATE) == (403, "Forbidden")
    bash = {**GATE, "metadata": {"type": "bash", "cmd": "echo ok", "returnCmdOutput": "true"}}
    assert request(service.port, "/", bash) == (200, "ok\n")
    status, text = request(service.port, "/metrics", method="GET")
    assert status == 200 and "loadtester_tasks_started_total" in text
    assert service.stop() == 0
    events = [json.loads(line) for line in service.log_lines()]
    assert all(event["level"] != "debug" for event in events)
    assert any(event["event"] == "gate opened" and event["canary"] == "podinfo" for event in events)
    assert any(event["event"] == "task ended" and event.get("exit_code") == 0 for event in events)


def test_default_state_is_durable(start_service: StartService, tmp_path: Path) -> None:
    """Without -state the SQLite store is created under ./.loadtester (or $XDG_STATE_HOME)."""
    service = start_service(env={"XDG_STATE_HOME": ""})
    service.wait_healthy()
    assert request(service.port, "/gate/open", GATE) == (202, "")
    assert service.stop() == 0
    assert (tmp_path / ".loadtester" / "loadtester.db").exists()
    xdg = tmp_path / "xdg"
    service = start_service(env={"XDG_STATE_HOME": str(xdg)})
    service.wait_healthy()
    assert service.stop() == 0
    assert (xdg / "loadtester" / "loadtester.db").exists()


@pytest.mark.skipif(
    shutil.which("loadtester") is None,
    reason="the loadtester console script is not installed (pip install -e .)",
)
def test_console_script(start_service: StartService, tmp_path: Path) -> None:
    """The installed `loadtester` command starts with Flagger's flags and serves."""
    command = [shutil.which("loadtester") or "loadtester"]
    service = start_service(
        "-log-level=info", "-timeout=1h", f"-state={tmp_path / 'st'}", command=command
    )
    service.wait_healthy()
    assert request(service.port, "/gate/halt") == (403, "Forbidden")
    assert service.stop() == 0


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_listen_backlog_is_somaxconn(start_service: StartService) -> None:
    """The listening socket's backlog (Send-Q of `ss -ltn`) is the kernel's somaxconn, as the
    Go service's: a burst past aiohttp's default 128 callers does not wait for a SYN retransmit."""
    service = start_service("-state=memory")
    service.wait_healthy()
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{service.port}"], capture_output=True,
                               text=True, check=True).stdout.splitlines()
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert listening and {int(line.split()[2]) for line in listening} == {somaxconn}
    assert service.stop() == 0


def test_serve_script_says_how_to_reach_the_cli(start_service: StartService) -> None:
    """./scripts/serve first prints how another shell reaches the CLI in .venv; run as printed,
    from the directory it names, that command answers the service the script started."""
    service = start_service("-state=memory", command=[str(REPO / "scripts" / "serve")])
    service.wait_healthy(within=300)  # ensure-deps may install first
    lines = service.log_lines()
    hints = [i for i, line in enumerate(lines) if ".venv/bin/loadtester status" in line]
    starting = [i for i, line in enumerate(lines) if '"starting"' in line or " starting " in line]
    assert hints and starting and hints[0] < starting[0], lines
    found = re.search(r"in (\S+): (\.venv/bin/loadtester status)", lines[hints[0]])
    assert found, lines[hints[0]]
    checkout, command = found.groups()
    status = subprocess.run([*command.split(), "--url", f"http://127.0.0.1:{service.port}",
                             "-o", "json"], cwd=checkout, capture_output=True, text=True,
                            timeout=60, check=False)
    assert status.returncode == 0, status.stderr
    assert "canaries" in json.loads(status.stdout)
    assert service.stop() == 0


def test_port_from_environment(start_service: StartService, tmp_path: Path) -> None:
    """LOADTESTER_PORT sets the port when no flag does."""
    port = free_port()
    service = start_service(
        f"-state={tmp_path / 'st'}", port=port, with_port=False, env={"LOADTESTER_PORT": str(port)}
    )
    service.wait_healthy()
    assert service.stop() == 0


def test_port_in_use(start_service: StartService, tmp_path: Path) -> None:
    """A port already taken makes the service exit non-zero with a log line saying so."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        service = start_service("-state=memory", port=port)
        assert service.process.wait(30) != 0
    assert any("cannot serve" in line for line in service.log_lines())


def test_sigterm_ends_service_and_children(start_service: StartService, tmp_path: Path) -> None:
    """SIGTERM ends the service, a running check and a background task's process group."""
    service = start_service(f"-state={tmp_path / 'st'}", "-shutdown-grace=1s", "-kill-grace=1s")
    service.wait_healthy()
    bg_pid = tmp_path / "bg.pid"
    check_pid = tmp_path / "check.pid"
    background = {**GATE, "metadata": {"cmd": f"echo $$ > {bg_pid}; sleep 300"}}
    assert request(service.port, "/", background) == (202, "")
    check_answer: list[tuple[int, str]] = []
    check = {
        **GATE,
        "name": "other",
        "metadata": {"type": "bash", "cmd": f"sleep 300 & echo $$ $! > {check_pid}; wait"},
    }
    thread = threading.Thread(
        target=lambda: check_answer.append(request(service.port, "/", check)), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not (bg_pid.exists() and check_pid.exists() and check_pid.read_text().endswith("\n")):
        assert time.monotonic() < deadline, "tasks did not start"
        time.sleep(0.05)
    pids = [int(bg_pid.read_text()), *(int(word) for word in check_pid.read_text().split())]
    assert all(alive(pid) for pid in pids)
    started = time.monotonic()
    assert service.stop(signal.SIGTERM, within=30) == 0
    # shutdown grace 1s + kill grace 1s, with room for a slow machine
    assert time.monotonic() - started < 8
    assert not any(alive(pid) for pid in pids)
    assert group_members(pids[0]) == [] and group_members(pids[1]) == []
    thread.join(10)
    assert check_answer and check_answer[0][0] >= 500


def test_sigterm_with_default_grace(start_service: StartService, tmp_path: Path) -> None:
    """With default graces, SIGTERM with only a background `sleep 300` exits quickly, no orphan."""
    service = start_service("-log-level=info", "-timeout=1h", f"-state={tmp_path / 'st'}")
    service.wait_healthy()
    pid_file = tmp_path / "pid"
    body = {**GATE, "metadata": {"type": "cmd", "cmd": f"echo $$ > {pid_file}; sleep 300"}}
    assert request(service.port, "/", body) == (202, "")
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().endswith("\n"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pgid = int(pid_file.read_text())
    assert group_members(pgid)
    assert service.stop(signal.SIGTERM, within=30) == 0
    assert group_members(pgid) == []


def test_gate_survives_kill9(start_service: StartService, tmp_path: Path) -> None:
    """An opened gate (and rollback) survives kill -9 and a restart on the same -state."""
    state = f"-state={tmp_path / 'durable'}"
    service = start_service("-log-level=info", "-timeout=1h", state)
    service.wait_healthy()
    assert request(service.port, "/gate/open", GATE) == (202, "")
    assert request(service.port, "/rollback/open", {**GATE, "name": "other"}) == (202, "")
    service.stop(signal.SIGKILL)
    restarted = start_service("-log-level=info", "-timeout=1h", state)
    restarted.wait_healthy()
    assert request(restarted.port, "/gate/check", GATE) == (200, "Approved")
    assert request(restarted.port, "/rollback/check", {**GATE, "name": "other"}) == (
        200,
        "Approved",
    )
    assert request(restarted.port, "/rollback/check", GATE) == (403, "Forbidden")
    assert request(restarted.port, "/gate/close", GATE) == (202, "")
    restarted.stop(signal.SIGKILL)
    again = start_service(state)
    again.wait_healthy()
    assert request(again.port, "/gate/check", GATE) == (403, "Forbidden")


def test_memory_state_forgets(start_service: StartService) -> None:
    """With -state=memory a restart closes every gate, like the Go service."""
    service = start_service("-state=memory")
    service.wait_healthy()
    assert request(service.port, "/gate/open", GATE) == (202, "")
    assert request(service.port, "/gate/check", GATE) == (200, "Approved")
    service.stop(signal.SIGKILL)
    restarted = start_service("-state=memory")
    restarted.wait_healthy()
    assert request(restarted.port, "/gate/check", GATE) == (403, "Forbidden")


def test_console_log_encoding(start_service: StartService) -> None:
    """-zap-encoding=console writes human-readable lines, not JSON."""
    service = start_service("-state=memory", "-zap-encoding=console", "-log-level=info")
    service.wait_healthy()
    assert request(service.port, "/gate/open", GATE) == (202, "")
    assert service.stop() == 0
    lines = [line for line in service.log_lines() if "gate opened" in line]
    assert lines and not lines[0].startswith("{")


def test_bad_input_does_not_take_it_down(start_service: StartService) -> None:
    """Oversized, malformed and raw-garbage requests leave the process serving."""
    service = start_service("-state=memory")
    service.wait_healthy()
    status, text = request(service.port, "/", b"x" * (2 * 1024 * 1024))
    assert status == 413 and "\n" not in text
    assert request(service.port, "/gate/check", b"[1, 2]")[0] == 400
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
        sock.recv(4096)
    assert request(service.port, "/healthz", method="GET") == (200, "OK")
    assert service.process.poll() is None


def test_log_lines_written_while_serving(start_service: StartService) -> None:
    """A request's log lines reach stderr at once, not only when the service exits."""
    service = start_service("-state=memory", "-log-level=info")
    service.wait_healthy()
    assert request(service.port, "/gate/open", GATE) == (202, "")
    deadline = time.monotonic() + 5
    while not any('"gate opened"' in line for line in service.log_lines()):
        assert time.monotonic() < deadline, "log line not written while serving"
        time.sleep(0.05)
    assert service.process.poll() is None
