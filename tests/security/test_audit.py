"""An honest audit trail: the peer's address, Kubernetes names, Go's regexp `$`, valid text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from structlog.testing import capture_logs

from loadtester.cli import main, parse_settings
from loadtester.forwarded import client_address
from loadtester.goregexp import compile_go, to_python
from loadtester.keys import STATE
from loadtester.state.base import gate_key
from tests.support.client import ClientFactory

GATE = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "abc"}


async def send(client: Any, path: str, body: dict[str, Any] | str,
               headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of one POST; a dict is sent as JSON (lone surrogates as \\ud800)."""
    data = body if isinstance(body, str) else json.dumps(body)
    async with client.post(path, data=data, headers=headers) as response:
        return response.status, await response.text()


async def test_forged_forwarded_for_is_not_the_remote(make_client: ClientFactory) -> None:
    """Without -trusted-proxies a gate change records the socket's peer, not X-Forwarded-For."""
    client = await make_client()
    with capture_logs() as logs:
        status, _ = await send(client, "/gate/open", GATE, {"X-Forwarded-For": "6.6.6.6"})
    assert status == 202
    (opened,) = [log for log in logs if log["event"] == "gate opened"]
    assert opened["remote"] == "127.0.0.1" and "6.6.6.6" not in repr(opened)
    change = await client.server.app[STATE].gates.get(gate_key("podinfo", "test"))
    assert change is not None and change.by == "127.0.0.1"


async def test_trusted_proxy_forwards_the_client(make_client: ClientFactory) -> None:
    """From a trusted proxy, the right-most address that is not a trusted proxy is the client."""
    client = await make_client(trusted_proxies="127.0.0.1/32, 10.0.0.0/8")
    forwarded = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.7"}
    with capture_logs() as logs:
        assert (await send(client, "/gate/close", GATE, forwarded))[0] == 202
    (closed,) = [log for log in logs if log["event"] == "gate closed"]
    assert (closed["remote"], closed["proxy"]) == ("203.0.113.9", "127.0.0.1")
    change = await client.server.app[STATE].gates.get(gate_key("podinfo", "test"))
    assert change is not None and change.by == "203.0.113.9"


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.1", ["6.6.6.6"], "192.0.2.1"),  # peer not trusted: header ignored
        ("10.0.0.1", ["6.6.6.6, 203.0.113.9"], "203.0.113.9"),  # the forger's entry is left
        ("10.0.0.1", ["6.6.6.6", "203.0.113.9, 10.0.0.2"], "203.0.113.9"),  # several headers
        ("10.0.0.1", ["10.0.0.3, 10.0.0.2"], "10.0.0.3"),  # all proxies: the left-most
        ("10.0.0.1", ["6.6.6.6, not-an-ip, 10.0.0.2"], "10.0.0.2"),  # garbage stops the walk
        ("10.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("10.0.0.1", ["198.51.100.4:5678"], "198.51.100.4"),
        ("::ffff:10.0.0.1", ["198.51.100.4"], "198.51.100.4"),  # a v4 peer on a v6 socket
        ("10.0.0.1", [], "10.0.0.1"),
        (None, ["6.6.6.6"], ""),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    """X-Forwarded-For counts only from a trusted peer, walked from the right."""
    assert client_address(peer, forwarded, ("10.0.0.0/8",)) == expected


def test_trusted_proxies_flag() -> None:
    """-trusted-proxies takes comma-separated CIDRs or addresses; a bad one exits 2."""
    settings = parse_settings(["-trusted-proxies=10.0.0.0/8, 192.168.1.7,fd00::/8"], environ={})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.7", "fd00::/8")
    assert parse_settings([], environ={"LOADTESTER_TRUSTED_PROXIES": "10.1.0.0/16"}
                          ).trusted_proxies == ("10.1.0.0/16",)
    assert main(["-trusted-proxies=10.0.0.0/33", "-state=memory"]) == 2


async def test_dotted_namespace_cannot_collide(make_client: ClientFactory) -> None:
    """`a.b`+`c` is a gate; `a`+`b.c` is refused, so the key `a.b.c` has one owner."""
    client = await make_client()
    dotted_name = {"name": "a.b", "namespace": "c"}
    dotted_namespace = {"name": "a", "namespace": "b.c"}
    assert await send(client, "/gate/open", dotted_name) == (202, "")
    assert await send(client, "/gate/check", dotted_namespace) == (
        400, 'invalid payload: namespace "b.c" is not a valid Kubernetes namespace')
    assert await send(client, "/gate/open", dotted_namespace) == (
        400, 'invalid payload: namespace "b.c" is not a valid Kubernetes namespace')
    assert await send(client, "/gate/check", dotted_name) == (200, "Approved")


@pytest.mark.parametrize(
    ("name", "namespace", "reason"),
    [
        ("Podinfo", "test", 'name "Podinfo" is not a valid Kubernetes name'),
        ("podinfo-", "test", 'name "podinfo-" is not a valid Kubernetes name'),
        ("a..b", "test", 'name "a..b" is not a valid Kubernetes name'),
        ("a" * 254, "test", f'name "{"a" * 80}"... is not a valid Kubernetes name'),
        ("podinfo", "team_a", 'namespace "team_a" is not a valid Kubernetes namespace'),
        ("podinfo", "team-a\n", 'namespace "team-a\\n" is not a valid Kubernetes namespace'),
        ("podinfo", "a" * 64, f'namespace "{"a" * 64}" is not a valid Kubernetes namespace'),
    ],
)
async def test_invalid_kubernetes_names(make_client: ClientFactory, name: str, namespace: str,
                                        reason: str) -> None:
    """Names and namespaces that Kubernetes would refuse answer 400 with one line."""
    client = await make_client()
    body = {"name": name, "namespace": namespace, "metadata": {"type": "bash", "cmd": "true"}}
    for path in ("/", "/gate/open", "/rollback/check", "/events"):
        assert await send(client, path, body) == (400, f"invalid payload: {reason}"), path


async def test_longest_valid_names_accepted(make_client: ClientFactory) -> None:
    """A 253-character dotted name and a 63-character namespace are valid."""
    client = await make_client()
    name = ".".join(["a" * 63] * 3) + "." + "b" * 61
    assert len(name) == 253
    assert await send(client, "/gate/open", {"name": name, "namespace": "n" * 63}) == (202, "")


async def test_namespace_regexp_dollar_is_end_of_text(make_client: ClientFactory) -> None:
    """-namespace-regexp='^team-a$' serves team-a and refuses "team-a\\n" (403, as Go does)."""
    client = await make_client(namespace_regexp="^team-a$")
    assert await send(client, "/gate/open", {**GATE, "namespace": "team-a"}) == (202, "")
    status, _ = await send(client, "/gate/open", {**GATE, "namespace": "team-a\n"})
    assert status == 403  # Go's regexp check comes before our Kubernetes-name check
    assert await send(client, "/gate/open", {**GATE, "namespace": "team-ab"}) == (
        403, "Forbidden")


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^team-a$", "team-a\n", False),
        ("^team-a$", "team-a", True),
        ("team", "my-team-a", True),  # unanchored, like MatchString
        (r"^a\$$", "a$", True),
        (r"^a\$$", "a$\n", False),
        ("^a[$]$", "a$", True),
        ("^a[^]$]$", "ab", True),
        ("^a[^]$]$", "ab\n", False),
        ("(?m)^a$", "a\nb", True),
        ("(?im:^A$)", "a\nb", True),
        (r"^team-a\z", "team-a\n", False),
        ("^(prod|stage)$", "stage\n", False),
    ],
)
def test_go_regexp_semantics(pattern: str, text: str, matches: bool) -> None:
    """compile_go(p).search matches as Go's regexp.MatchString(p, text) does."""
    assert (compile_go(pattern).search(text) is not None) == matches


def test_go_regexp_translation() -> None:
    """Only an unescaped `$` outside a class (and Go's `\\z`) changes."""
    assert to_python(r"^a$|[$\]]\$b$") == r"^a\Z|[$\]]\$b\Z"
    assert to_python("(?m)^a$") == "(?m)^a$"
    assert parse_settings([r"-namespace-regexp=^team-a\z"], environ={}).namespace_regexp


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/gate/open", {**GATE, "checksum": "\ud800"}, "checksum"),
        ("/", {**GATE, "metadata": {"type": "bash", "cmd": "echo \ud800"}}, "metadata.cmd"),
        ("/", {**GATE, "metadata": {"type": "load", "url": "http://127.0.0.1:1/",
                                    "body": "x\udfff"}}, "metadata.body"),
        ("/events", {**GATE, "metadata": {"eventMessage": "\ud800", "eventType": "Normal",
                                          "timestamp": "1"}}, "metadata.eventMessage"),
        ("/gate/check", {**GATE, "name": "p\ud800"}, "name"),
        ("/", {**GATE, "metadata": {"alerts": [{"to": "\ud83d"}]}}, "metadata.alerts"),
    ],
)
async def test_lone_surrogate_is_400(make_client: ClientFactory, path: str,
                                     body: dict[str, Any], field: str) -> None:
    """A lone surrogate anywhere in a payload answers 400 naming the field, not a 500."""
    client = await make_client()
    status, text = await send(client, path, body)
    assert status == 400
    assert text.startswith(f"invalid payload: {field} contains a lone UTF-16 surrogate (\\u")
    assert "\n" not in text


async def test_surrogate_pair_is_text(make_client: ClientFactory) -> None:
    """An escaped surrogate pair is one valid character (an emoji), accepted."""
    client = await make_client()
    body = {**GATE, "checksum": "\U0001f600", "metadata": {"type": "bash", "cmd": "echo \U0001f600",
                                                         "returnCmdOutput": "true"}}
    assert await send(client, "/", body) == (200, "\U0001f600\n")


async def test_raw_surrogate_bytes_are_400(make_client: ClientFactory) -> None:
    """A surrogate written as raw (CESU-style) UTF-8 bytes, not escaped, is refused too."""
    client = await make_client()
    body = b'{"name":"podinfo","namespace":"test","checksum":"a\xed\xa0\x80"}'
    async with client.post("/gate/open", data=body) as response:
        assert response.status == 400
        assert "checksum contains a lone UTF-16 surrogate" in await response.text()
