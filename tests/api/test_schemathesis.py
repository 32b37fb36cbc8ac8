"""schemathesis against the real service: every operation of /api/v1/openapi.json, with
generated valid and invalid input, in every phase and with every check, passes.

The run is schemathesis' own command (`python -m schemathesis.cli run`): the examples,
coverage, fuzzing and stateful phases, and `--checks all` (no server error, documented status,
content type, headers and body, invalid input refused, valid input accepted, 405 with Allow for
undocumented methods, ...). Bounded: 20 examples per operation, a fixed seed, one worker.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.api import GATE
from tests.support.service import StartService

pytestmark = pytest.mark.system

ADMIN = "schemathesis-admin-token"
TEAM = "schemathesis-team-token"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("token", ["", ADMIN, TEAM], ids=["open", "star-token", "ns-token"])
def test_api_conforms_to_its_document(start_service: StartService, tmp_path: Path,
                                      token: str) -> None:
    """schemathesis finds no failure, without -token-file and with a `*` or namespace token."""
    flags = [f"-state={tmp_path / 'state'}", "-log-level=warning", "-load-workers=1"]
    headers: dict[str, str] = {}
    if token:
        tokens = tmp_path / "tokens"
        tokens.write_text(f"* {ADMIN} admin\ntest {TEAM} team\n")
        flags.append(f"-token-file={tokens}")
        headers = {"Authorization": f"Bearer {ADMIN}"}
    service = start_service(*flags)
    service.wait_healthy()
    # the documented examples (podinfo in test) name a canary that exists, with a task run
    assert _post(service.port, "/gate/check", GATE, headers) == 403
    assert _post(service.port, "/", {**GATE, "metadata": {"type": "bash", "cmd": "true"}},
                 headers) == 200
    command = [sys.executable, "-m", "schemathesis.cli", "run",
               f"http://127.0.0.1:{service.port}/api/v1/openapi.json",
               "--max-examples=20", "--seed=1", "--workers=1", "--checks=all",
               "--request-timeout=30"]
    if token:
        command.append(f"--header=Authorization: Bearer {token}")
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=280,
                         env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "120"})
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert " passed" in report and "failed" not in report.lower()
    assert service.stop() == 0


def _post(port: int, path: str, body: dict[str, object], headers: dict[str, str]) -> int:
    import http.client
    import json

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=json.dumps(body),
                           headers={"Content-Type": "application/json", **headers})
        return connection.getresponse().status
    finally:
        connection.close()
