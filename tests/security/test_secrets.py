"""Tasks never see the service's own secrets: not in their environment, not in `ps`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import redis.asyncio

from loadtester.flags import FLAGS
from loadtester.proctitle import mask_secret_arguments
from loadtester.tasks.process import _service_variables
from tests.support.client import ClientFactory
from tests.support.service import GATE, StartService, request

SECRET_NAMES = frozenset(flag.name for flag in FLAGS if flag.secret)
SLACK = "https://hooks.slack.com/services/T/B/SECRET"


@pytest.mark.parametrize(("args", "masked", "exposed"), [
    ([f"-slack-url={SLACK}", "-port=1"], ["-slack-url=***", "-port=1"], ["slack-url"]),
    (["--discord-url", SLACK, "-log-level=info"], ["--discord-url", "***", "-log-level=info"],
     ["discord-url"]),
    (["-state=redis://:pw@redis:6379/0"], ["-state=***"], ["state"]),
    (["-state=/var/lib/loadtester", "-state", "memory"],
     ["-state=/var/lib/loadtester", "-state", "memory"], []),
    (["-alertmanager-url=http://am:9093", "-slack-url"], ["-alertmanager-url=http://am:9093",
                                                         "-slack-url"], []),
])
def test_mask_secret_arguments(args: list[str], masked: list[str], exposed: list[str]) -> None:
    """URL values of secret flags are masked in both flag forms; other values stay readable."""
    assert mask_secret_arguments(args, SECRET_NAMES) == (masked, exposed)


def test_hidden_variables_follow_the_secret_flags() -> None:
    """Every secret flag's variable and its *_FILE variable are kept from children."""
    hidden = _service_variables()
    assert {"LOADTESTER_SLACK_URL", "LOADTESTER_SLACK_URL_FILE", "LOADTESTER_STATE_FILE",
            "LOADTESTER_EVENT_WEBHOOK_URL_FILE"} <= hidden


@pytest.mark.system
def test_task_environment_has_no_service_secret(start_service: StartService,
                                                tmp_path: Path) -> None:
    """A `bash` task running `env` sees no LOADTESTER_ variable, but the user's own ones."""
    url_file = tmp_path / "discord-url"
    url_file.write_text("https://discord.com/api/webhooks/1/FILESECRET\n")
    service = start_service("-state=memory", env={
        "LOADTESTER_SLACK_URL": SLACK,
        "LOADTESTER_DISCORD_URL_FILE": str(url_file),
        "LOADTESTER_LOG_LEVEL": "info",
        "API_TOKEN": "users-own-token",
    })
    service.wait_healthy()
    check = {**GATE, "metadata": {"type": "bash", "cmd": "env", "returnCmdOutput": "true"}}
    status, output = request(service.port, "/", check)
    assert status == 200
    names = [line.partition("=")[0] for line in output.splitlines()]
    assert "API_TOKEN" in names and "PATH" in names
    assert not [name for name in names if name.startswith("LOADTESTER_")]
    assert "SECRET" not in output and str(url_file) not in output
    assert service.stop() == 0


@pytest.mark.system
def test_secret_flag_is_not_in_the_command_line(start_service: StartService) -> None:
    """`-slack-url=URL` is `-slack-url=***` in /proc/PID/cmdline and `ps`, with a warning."""
    service = start_service("-state=memory", f"-slack-url={SLACK}", "-discord-url",
                            "https://discord.com/api/webhooks/1/OTHERSECRET")
    service.wait_healthy()
    pid = service.process.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert b"SECRET" not in cmdline
    assert b"-slack-url=*** -discord-url ***" in cmdline and b"-state=memory" in cmdline
    ps = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True,
                        check=True).stdout
    assert "-slack-url=***" in ps and "SECRET" not in ps
    assert service.stop() == 0
    events = [json.loads(line) for line in service.log_lines()]
    warnings = [event for event in events if event["level"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["flags"] == ["-slack-url", "-discord-url"]
    assert "LOADTESTER_<NAME>_FILE" in warnings[0]["event"]
    assert not any("SECRET" in line for line in service.log_lines())


@pytest.mark.system
def test_no_warning_without_secret_flags(start_service: StartService, tmp_path: Path) -> None:
    """Secrets from the environment, and a -state directory, leave the title and log alone."""
    service = start_service(f"-state={tmp_path / 'st'}", env={"LOADTESTER_SLACK_URL": SLACK})
    service.wait_healthy()
    cmdline = Path(f"/proc/{service.process.pid}/cmdline").read_bytes()
    assert cmdline.split(b"\0")[-2].startswith(b"-port=")  # the untouched argv
    assert service.stop() == 0
    assert not any('"warning"' in line for line in service.log_lines())


async def test_command_secrets_are_not_key_names_in_redis(make_client: ClientFactory,
                                                          redis_url: str) -> None:
    """A background command's secret never becomes part of a key name in the state store."""
    client = await make_client(state=redis_url)
    body = {**GATE, "metadata": {"cmd": "curl -s 'http://127.0.0.1:1/?token=t0k3n'; exit 3"}}
    async with client.post("/", data=json.dumps(body)) as response:
        assert response.status == 202
    async with redis.asyncio.Redis.from_url(redis_url) as store:
        names = [key.decode() for key in await store.keys("*")]
    assert any("lease:" in name for name in names)
    assert not any("t0k3n" in name or "curl" in name for name in names)
