"""What one token can make the service keep and serve is bounded: phases and
checksums, distinct canaries a day (-max-canaries), and the canary list in pages."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from loadtester import console_cli, metrics
from loadtester.cli import parse_settings
from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.result import LoadResult
from loadtester.models import PHASES, WebhookPayload
from loadtester.tasks.load import LoadRecording
from tests.support.api import call, webhook
from tests.support.client import ClientFactory

BASH_TRUE = {"type": "bash", "cmd": "true"}
EVENT = {"eventMessage": "Advance app canary weight 10", "eventType": "Normal"}
TEAM_A, TEAM_A_CI, ADMIN = ("team-a-secret-0123456789", "team-a-ci-secret-0123456789",
                            "admin-secret-0123456789")


def gate(name: str, namespace: str = "team-a", **changes: Any) -> dict[str, Any]:
    """A /gate/check payload as Flagger posts it."""
    return {"name": name, "namespace": namespace, "phase": "Progressing",
            "checksum": "85d557f47b", **changes}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def answer(client: Any, path: str, payload: dict[str, Any],
                 headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of one webhook call."""
    async with client.post(path, data=json.dumps(payload), headers=headers) as response:
        return response.status, await response.text()


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    """team-a has a named token (alice) and an unnamed one; an admin token sees every namespace."""
    path = tmp_path / "tokens"
    path.write_text(f"team-a {TEAM_A} alice\nteam-a {TEAM_A_CI}\n* {ADMIN} admin\n")
    return str(path)


# ---- phase and checksum -------------------------------------------------------------------

async def test_checksum_of_257_characters_is_refused(make_client: ClientFactory) -> None:
    """A 257-character checksum answers 400 with a one-line reason on every payload endpoint;
    256 characters pass."""
    client = await make_client()
    long = gate("podinfo", checksum="a" * 257)
    for path in ("/gate/check", "/rollback/check", "/gate/open", "/"):
        status, body = await answer(client, path, {**long, "metadata": {"type": "cmd"}})
        assert (status, body) == (400, "invalid payload: checksum longer than 256 characters")
    status, _ = await answer(client, "/events", {**long, "metadata": {"eventMessage": "x"}})
    assert status == 400
    assert await webhook(client, "/gate/check", gate("podinfo", checksum="a" * 256)) == 403


async def test_900_kb_checksum_is_neither_stored_nor_served(make_client: ClientFactory) -> None:
    """A 900 KB checksum answers 400 and the canary list stays empty."""
    client = await make_client()
    status, _ = await answer(client, "/gate/check", gate("podinfo", checksum="x" * 900_000))
    assert status == 400
    assert (await call(client, "GET", "/api/v1/canaries"))[1]["canaries"] == []


async def test_unknown_phase_is_refused_flagger_phases_pass(make_client: ClientFactory) -> None:
    """A phase Flagger never sends answers 400; each of Flagger's phases and none pass."""
    client = await make_client()
    for phase in ("Bogus", "progressing", "Progressing ", "<img src=x onerror=alert(1)>"):
        status, body = await answer(client, "/gate/check", gate("podinfo", phase=phase))
        assert status == 400 and body.startswith("invalid payload: phase "), (phase, body)
        assert "\n" not in body
    for phase in (*sorted(PHASES), ""):
        assert await webhook(client, "/gate/check", gate("podinfo", phase=phase)) == 403, phase
    assert await webhook(client, "/gate/check", {"name": "podinfo", "namespace": "team-a"}) == 403
    _, listed = await call(client, "GET", "/api/v1/canaries")
    # the last of Flagger's phases sent; an empty one keeps the phase known
    assert [canary["phase"] for canary in listed["canaries"]] == ["WaitingPromotion"]


# ---- -max-canaries ------------------------------------------------------------------------

async def test_51st_canary_is_refused_and_the_first_50_keep_working(
        make_client: ClientFactory) -> None:
    """-max-canaries 50 without tokens: 50 canaries are seen, the 51st answers 429 on every
    endpoint (nothing stored), and each of the first 50 still gets its usual answers."""
    client = await make_client(max_canaries=50)
    for number in range(50):
        assert await webhook(client, "/gate/check", gate(f"app-{number}")) == 403
    refused = gate("app-50")
    status, body = await answer(client, "/gate/check", refused)
    assert status == 429 and body.startswith("too many canaries: ") and "\n" not in body
    assert await webhook(client, "/", {**refused, "metadata": BASH_TRUE}) == 429
    assert await webhook(client, "/gate/open", refused) == 429
    assert await webhook(client, "/events", {**refused, "metadata": EVENT}) == 429
    assert await webhook(client, "/gate/check", refused) == 429
    first = gate("app-0")
    assert await webhook(client, "/", {**first, "metadata": BASH_TRUE}) == 200
    assert await webhook(client, "/events", {**first, "metadata": EVENT}) == 202
    assert await webhook(client, "/gate/open", first) == 202
    assert await webhook(client, "/gate/check", first) == 200
    assert await webhook(client, "/gate/check", gate("app-49", phase="Promoting")) == 403
    status, listed = await call(client, "GET", "/api/v1/canaries?limit=500")
    assert status == 200 and len(listed["canaries"]) == 50
    assert "app-50" not in {canary["name"] for canary in listed["canaries"]}


async def test_limit_counts_per_token(make_client: ClientFactory, token_file: str) -> None:
    """With tokens each token line has its own budget: alice's third canary is refused, the
    unnamed team-a token still has two, and a canary alice made works with any token."""
    client = await make_client(max_canaries=2, token_file=token_file)
    assert await webhook(client, "/gate/check", gate("a1"), bearer(TEAM_A)) == 403
    assert await webhook(client, "/gate/check", gate("a2"), bearer(TEAM_A)) == 403
    status, body = await answer(client, "/gate/check", gate("a3"), bearer(TEAM_A))
    assert status == 429 and "alice" in body
    assert await webhook(client, "/gate/check", gate("a1"), bearer(TEAM_A_CI)) == 403
    assert await webhook(client, "/gate/check", gate("c1"), bearer(TEAM_A_CI)) == 403
    assert await webhook(client, "/gate/check", gate("c2"), bearer(TEAM_A_CI)) == 403
    status, body = await answer(client, "/gate/check", gate("c3"), bearer(TEAM_A_CI))
    assert status == 429 and "token 2" in body
    assert await webhook(client, "/gate/check", gate("c3"), bearer(ADMIN)) == 403
    assert await webhook(client, "/gate/check", gate("c3"), bearer(TEAM_A)) == 403


async def test_limit_holds_across_replicas_on_redis(make_client: ClientFactory,
                                                    redis_url: str) -> None:
    """Two replicas on one Redis share the budget: 2 canaries on one and 1 on the other use
    up -max-canaries 3, and the 4th is refused on both."""
    first = await make_client(state=redis_url, max_canaries=3)
    second = await make_client(state=redis_url, max_canaries=3)
    assert await webhook(first, "/gate/check", gate("a1")) == 403
    assert await webhook(first, "/gate/check", gate("a2")) == 403
    assert await webhook(second, "/gate/check", gate("b1")) == 403
    assert await webhook(second, "/gate/check", gate("b2")) == 429
    assert await webhook(first, "/gate/check", gate("b2")) == 429
    assert await webhook(second, "/gate/check", gate("a1")) == 403


def test_max_canaries_flag_and_default() -> None:
    """-max-canaries and LOADTESTER_MAX_CANARIES set the budget; it is 10 000 by default."""
    assert parse_settings([], {}).max_canaries == 10_000
    assert parse_settings(["-max-canaries=50"], {}).max_canaries == 50
    assert parse_settings([], {"LOADTESTER_MAX_CANARIES": "7"}).max_canaries == 7


# ---- the console's command line -----------------------------------------------------------

@pytest.mark.system
async def test_status_pages_through_every_canary(make_client: ClientFactory,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`loadtester status -o json` follows `next` past the largest page: all 501 canaries."""
    client = await make_client()
    for number in range(501):
        assert await webhook(client, "/gate/check", gate(f"app-{number:03d}")) == 403
    url = str(client.make_url("/"))
    code = await asyncio.to_thread(console_cli.main, ["status", "-o", "json", f"--url={url}"])
    assert code == 0
    listed = json.loads(capsys.readouterr().out)["canaries"]
    assert [canary["id"] for canary in listed] == [
        f"app-{number:03d}.team-a" for number in reversed(range(501))]


# ---- /metrics ------------------------------------------------------------------------------

def _series_of(canary: str) -> list[str]:
    """The /metrics sample lines of one canary's load series."""
    return [line for line in metrics.render().decode().splitlines()
            if line.startswith("loadtester_load_") and f'canary="{canary}"' in line]


def _label_values(lines: list[str], label: str) -> set[str]:
    return {line.split(f'{label}="', 1)[1].split('"', 1)[0] for line in lines
            if f'{label}="' in line}


def _run(canary: str, spec: LoadSpec, result: LoadResult) -> None:
    """Record one finished run in the load metrics, as a load task does."""
    recording = LoadRecording(WebhookPayload(name=canary, namespace="team-a"), spec)
    recording.add(result)
    recording.done(result)


def test_500_runs_with_distinct_paths_add_one_target() -> None:
    """500 load runs to distinct URL paths (and queries) of one host: the series
    of the canary are those of one run, labelled with the host alone."""
    canary = "paths-500"
    _run(canary, LoadSpec(url="http://podinfo.team-a:9898/item/0"),
         LoadResult(status_counts={200: 1}))
    after_one = len(_series_of(canary))
    for number in range(1, 500):
        _run(canary, LoadSpec(url=f"http://podinfo.team-a:9898/item/{number}?page={number}"),
             LoadResult(status_counts={200: 1}))
    lines = _series_of(canary)
    assert len(lines) == after_one
    assert _label_values(lines, "target") == {"http://podinfo.team-a:9898/"}
    assert 'code="200",namespace="team-a",target="http://podinfo.team-a:9898/"} 500.0' in (
        "\n".join(lines))


def test_targets_of_a_canary_are_capped_at_20() -> None:
    """500 runs to 500 hosts: 20 targets keep their label, the rest count as `other`."""
    canary = "hosts-500"
    for number in range(500):
        _run(canary, LoadSpec(url=f"http://10.0.{number // 250}.{number % 250}:80/"),
             LoadResult(status_counts={200: 1}))
    targets = _label_values(_series_of(canary), "target")
    assert len(targets) == metrics.MAX_TARGETS + 1 and metrics.OTHER in targets


def test_scenario_request_names_are_capped_at_20() -> None:
    """A scenario of 30 requests to distinct paths: 20 request labels and `other`, which
    counts the other 10's answers and failed checks."""
    canary = "names-30"
    text = "requests:\n" + "".join(f"  - {{name: r{n:02d}, url: /p/{n}}}\n" for n in range(30))
    spec = scenario_spec(parse_scenario(text, "http://shop.team-a/"),
                         LoadSpec(url="http://shop.team-a/", requests=30))
    parts = {f"r{n:02d}": LoadResult(status_counts={200: 1}, checks={"body": 1})
             for n in range(30)}
    _run(canary, spec, LoadResult(status_counts={200: 30}, requests=parts))
    lines = _series_of(canary)
    names = _label_values(lines, "request")
    assert len(names) == metrics.MAX_REQUESTS + 1 and metrics.OTHER in names
    assert (f'loadtester_load_requests_total{{canary="{canary}",code="200",namespace="team-a",'
            f'request="other",target="http://shop.team-a/"}} 10.0') in lines
    failures = [line for line in metrics.render().decode().splitlines()
                if line.startswith("loadtester_load_check_failures_total")
                and f'canary="{canary}"' in line]
    assert len(failures) == metrics.MAX_REQUESTS + 1
    assert any('request="other"' in line and line.endswith(" 10.0") for line in failures)
