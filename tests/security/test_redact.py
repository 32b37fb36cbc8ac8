"""Secrets redacted wherever the service writes them: log lines, failure bodies, /metrics."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest

import loadtester
from loadtester import metrics
from loadtester.redact import host_only, redact
from tests.support.api import call
from tests.support.client import ClientFactory
from tests.support.service import GATE, StartService, request
from tests.support.tasks import payload, post, wait_idle

FORMS = [
    # credential headers, in every way a command or metadata carries them
    ("curl -H 'Authorization: Bearer abc.def' http://h/", "curl -H 'Authorization: ***' http://h/"),
    ('curl -H "Proxy-Authorization: Basic Zm9vOmJhcg==" http://h/',
     'curl -H "Proxy-Authorization: ***" http://h/'),
    ("curl --header 'Cookie: sid=1; theme=dark' http://h/", "curl --header 'Cookie: ***' http://h/"),
    ("curl --header='Set-Cookie: sid=1' http://h/", "curl --header='Set-Cookie: ***' http://h/"),
    ("curl --header=X-Auth-Token:t0k http://h/", "curl --header=X-Auth-Token:*** http://h/"),
    ("hey -H 'X-Api-Key: k3y' http://h/", "hey -H 'X-Api-Key: ***' http://h/"),
    ("hey -H 'x-session-id: s1' -H 'Accept: json' http://h/",
     "hey -H 'x-session-id: ***' -H 'Accept: json' http://h/"),
    ("hey -H 'Private-Token: glpat-x' -H 'X-Client-Secret: cs' http://h/",
     "hey -H 'Private-Token: ***' -H 'X-Client-Secret: ***' http://h/"),
    ("Accept: text/plain\nAuthorization: Basic dXNlcjpwdw==\nX-Api-Key: k3y",
     "Accept: text/plain\nAuthorization: ***\nX-Api-Key: ***"),
    ('{"headers": "Accept: json\\nX-Api-Key: k3y", "url": "http://h/"}',
     '{"headers": "Accept: json\\nX-Api-Key: ***", "url": "http://h/"}'),
    # credentials in URLs
    ("curl http://admin:PASSWORD@127.0.0.1:1/", "curl http://admin:***@127.0.0.1:1/"),
    ("git clone https://ghp_token@github.com/o/r", "git clone https://***@github.com/o/r"),
    ("redis://:pw@redis:6379/0", "redis://:***@redis:6379/0"),
    ("url 'http://u:p@h/' is not", "url 'http://u:***@h/' is not"),
    # user:password arguments
    ("hey -a user:pw http://h/", "hey -a user:*** http://h/"),
    ("hey -a=user:pw http://h/", "hey -a=user:*** http://h/"),
    ("curl -u admin:pw http://h/", "curl -u admin:*** http://h/"),
    ("curl --user 'admin:pw' http://h/", "curl --user 'admin:***' http://h/"),
    # credential flags
    ("helm repo add r https://r --password hunter2", "helm repo add r https://r --password ***"),
    ("mysql --password=hunter2 db", "mysql --password=*** db"),
    ("kubectl --token=eyJhb.x.y get pods", "kubectl --token=*** get pods"),
    ("kubectl --token eyJhb get pods", "kubectl --token *** get pods"),
    ("tool --api-key k1 --apikey 'k 2'", "tool --api-key *** --apikey ***"),
    ('az login --client-secret "s e c" -u me', "az login --client-secret *** -u me"),
    ("vault -auth-token=x", "vault -auth-token=***"),
    # query and form parameters
    ("http://h/x?token=abc&page=2", "http://h/x?token=***&page=2"),
    ("curl -d 'user=me&password=pw' http://h/", "curl -d 'user=me&password=***' http://h/"),
    ("http://h/?key=1&secret=2&api_key=3&access_token=4#top",
     "http://h/?key=***&secret=***&api_key=***&access_token=***#top"),
    ("http://h/?X-Amz-Signature=abc&sig=def", "http://h/?X-Amz-Signature=***&sig=***"),
    ("curl -d 'client_secret=cs&refresh_token=rt'",
     "curl -d 'client_secret=***&refresh_token=***'"),
    ("API_TOKEN=abc\nHOME=/root", "API_TOKEN=***\nHOME=/root"),
    # Bearer and Basic anywhere
    ("got Bearer eyJ0eXAi.eyJzdWIi.c2ln from env", "got Bearer *** from env"),
    ("send Basic YWRtaW46c2VjcmV0 now", "send Basic *** now"),
]

UNCHANGED = [
    "GET /gate/check",
    "127.0.0.1",
    "::1",
    "http://podinfo-canary.test:9898/",
    "http://oauth-server:8080/login",
    "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
    "Basic authentication failed",
    "helm registry login --password-stdin --username me",
    "author=bob&design=x&monkey=3",
    "exit status 1",
    "curl: (7) Failed to connect to 127.0.0.1 port 1",
]


@pytest.mark.parametrize(("text", "expected"), FORMS)
def test_redacts_form(text: str, expected: str) -> None:
    """Each credential form loses only its secret part."""
    assert redact(text) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_leaves_ordinary_text(text: str) -> None:
    """Text without a credential is returned as it was."""
    assert redact(text) == text


@pytest.mark.parametrize(("text", "expected"), FORMS)
def test_idempotent(text: str, expected: str) -> None:
    """Redacting twice changes nothing more (logs redact what the middleware redacted)."""
    assert redact(expected) == expected


def test_webhook_url_keeps_only_its_host() -> None:
    """A chat webhook URL, a credential in itself, is reduced to scheme and host."""
    assert host_only("https://hooks.slack.com/services/T/B/SECRET") == "https://hooks.slack.com/***"
    assert host_only("https://u:pw@h.example/x") == "https://u:***@h.example/***"


def test_hostile_input_does_not_backtrack() -> None:
    """64 KiB of trigger words ends at once (milliseconds; catastrophic backtracking would take
    minutes): the hot path cannot be stalled by a crafted command."""
    hostile = [" " + "keytoken" * 8192, "a=" * 32768, "-" + "auth-" * 13000 + ":", ":" * 65536,
               "X-Api-Key" * 7000 + ":", " --" + "token" * 13000, "://" + "a:" * 30000]
    started = time.monotonic()
    for text in hostile:
        redact(text)
    assert time.monotonic() - started < 5.0


def test_metric_target_label_is_redacted() -> None:
    """A load series' target label never carries a credential onto /metrics."""
    metrics.LOAD.series("redact", "test", "http://h/api;token=s3cr3t")
    text = metrics.render().decode()
    assert 'target="http://h/api;token=***"' in text
    assert "s3cr3t" not in text


async def test_failure_body_is_redacted(make_client: ClientFactory) -> None:
    """A failed check's 500 body, which Flagger copies into events, carries no secret."""
    client = await make_client()
    cmd = "curl -sS -H 'Authorization: Bearer s3cr3t' http://admin:PASSWORD@127.0.0.1:1/"
    status, body = await post(client, payload({"type": "bash", "cmd": cmd}))
    assert status == 500
    assert body.startswith("command curl -sS -H 'Authorization: ***' http://admin:***@127.0.0.1:1/")
    assert "s3cr3t" not in body and "PASSWORD" not in body


async def test_background_failure_is_redacted(make_client: ClientFactory) -> None:
    """A background run's failure, kept in the state store and answered later, is redacted."""
    client = await make_client()
    body = payload({"cmd": "echo token=s3cr3t; exit 3"})
    assert await post(client, body) == (202, "")
    await wait_idle(client)
    status, text = await post(client, body)
    assert (status, text) == (500, "background task failed: exit status 3: token=***")
    await wait_idle(client)


@pytest.mark.system
def test_check_secrets_stay_out_of_logs_and_body(start_service: StartService) -> None:
    """A failing `bash` check with a Bearer token and a URL password: neither reaches the 500
    body nor any log line of the real service."""
    service = start_service("-state=memory", "-log-level=debug")
    service.wait_healthy()
    cmd = "curl -sS -H 'Authorization: Bearer s3cr3t' http://admin:PASSWORD@127.0.0.1:1/"
    status, body = request(service.port, "/", {**GATE, "metadata": {
        "type": "bash", "cmd": cmd, "logCmdOutput": "true"}})
    assert status == 500 and "Authorization: ***" in body
    assert service.stop() == 0
    log = service.log.read_text()
    assert '"task started"' in log and '"task ended"' in log and "admin:***@" in log
    for secret in ("s3cr3t", "PASSWORD"):
        assert secret not in body and secret not in log


@pytest.mark.system
def test_load_secrets_stay_out_of_logs_and_metrics(start_service: StartService) -> None:
    """`type: load` with a `headers` API key, and with hey's `-a user:pw` and `-H` in `cmd`:
    no secret in the log lines or on /metrics of the real service."""
    service = start_service("-state=memory", "-log-level=debug", "-load-workers=1")
    service.wait_healthy()
    target = f"http://127.0.0.1:{service.port}/healthz"
    structured = {"type": "load", "url": target, "headers": "Accept: text/plain\nX-Api-Key: k3y",
                  "requests": "5", "concurrency": "1", "wait": "true"}
    hey = {"type": "load", "wait": "true",
           "cmd": f"hey -n 5 -c 1 -a user:pw0rd -H 'X-Api-Key: k3y' {target}?token=t0k"}
    for metadata in (structured, hey):
        status, body = request(service.port, "/", {**GATE, "metadata": metadata})
        assert status == 200, body
    status, text = request(service.port, "/metrics", method="GET")
    assert status == 200 and f'target="http://127.0.0.1:{service.port}/"' in text
    assert service.stop() == 0
    log = service.log.read_text()
    started = [json.loads(line) for line in log.splitlines() if '"task started"' in line]
    assert len(started) == 2 and "X-Api-Key: ***" in started[1]["task"]
    for secret in ("k3y", "pw0rd", "t0k"):
        assert secret not in log and secret not in text


def _fixed_text(node: ast.expr) -> str | None:
    """A string literal's text, or an f-string's with each replacement field as `x`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "x"
                       for part in node.values)
    return None


def test_messages_the_service_raises_read_as_written() -> None:
    """The fixed text of every error the service raises (`send the Authorization header
    (Bearer) with a token`) comes out of redaction unchanged: only what callers send is masked."""
    masked = []
    for module in sorted(Path(loadtester.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                for argument in node.exc.args:
                    text = _fixed_text(argument)
                    if text is not None and redact(text) != text:
                        masked.append(f"{module.name}:{node.lineno}: {redact(text)}")
    assert not masked


async def test_auth_answers_read_as_written_and_caller_secrets_stay_masked(
        make_client: ClientFactory, tmp_path: Path) -> None:
    """401 and 400 bodies name Bearer and the token as written; a secret the caller sent (a
    failing command's output) is still masked in the same service's answers."""
    tokens = tmp_path / "tokens"
    tokens.write_text("* admin-secret-0123456789 alice\n")
    client = await make_client(token_file=str(tokens))
    assert await call(client, "GET", "/api/v1/canaries") == (401, {
        "error": "log in (POST /api/v1/session) or send the Authorization header (Bearer) "
                 "with a token"})
    assert await call(client, "POST", "/api/v1/session", {}) == (400, {
        "error": "a token is required: a string of 1 to 4096 characters"})
    async with client.post("/gate/open", json=GATE) as response:
        assert (response.status, await response.text()) == (
            401, 'gate changes need the Authorization header (Bearer) with a token of '
                 'namespace "test"')
    failing = payload({"type": "bash", "cmd": "echo token=s3cr3t; exit 3"})
    failing["metadata"]["token"] = "admin-secret-0123456789"
    status, body = await post(client, failing)
    assert status == 500 and "token=***" in body and "s3cr3t" not in body
