"""GET /api/v1/canaries/{namespace}/{name}/runs/{id}: a load run's series, kept in the history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.support.api import GATE, call, eventually, is_rfc3339, webhook
from tests.support.client import ClientFactory
from tests.support.servers import CountingServer, Reply
from tests.support.tasks import payload, post

PODINFO = "/api/v1/canaries/test/podinfo"
ADMIN, TEAM, SHOP = "admin-secret-0123456789", "team-secret-0123456789", "shop-secret-0123456789"


def _load(url: str) -> dict[str, Any]:
    return payload({"type": "load", "url": url, "rate": "20", "duration": "2s",
                    "concurrency": "2", "wait": "true"})


async def _run_ids(client: Any, headers: dict[str, str] | None = None) -> list[str]:
    async def listed() -> list[str] | None:
        status, body = await call(client, "GET", PODINFO, headers=headers)
        return body["runs"] if status == 200 and body["runs"] else None

    return await eventually(listed)


async def test_a_load_run_is_kept_with_its_series(
    target: CountingServer, make_client: ClientFactory
) -> None:
    """A load run against a real server is listed by id and answers its per-second series."""
    client = await make_client()
    status, body = await post(client, _load(target.url))
    assert status == 200, body
    (run_id,) = await _run_ids(client)
    status, run = await call(client, "GET", f"{PODINFO}/runs/{run_id}")
    assert status == 200, run
    assert (run["id"], run["name"], run["namespace"], run["outcome"], run["reason"]) == (
        run_id, "podinfo", "test", "succeeded", "")
    assert is_rfc3339(run["startedAt"]) and is_rfc3339(run["endedAt"])
    assert run["description"].startswith("GET ") and target.url in run["description"]
    _, canary = await call(client, "GET", PODINFO)
    assert run["taskId"] in {task["id"] for task in canary["tasks"]}
    series = run["series"]
    assert series["step"] == 1 and list(series["targets"]) == ["canary"]
    points = series["targets"]["canary"]
    assert [point["t"] for point in points] == list(range(len(points))) and len(points) >= 2
    total = sum(point["requests"] for point in points)
    assert total == run["summary"]["requests"] == target.answered[200]
    assert sum(point["errors"] for point in points) == 0
    answered = [point for point in points if point["requests"]]
    assert all(0 < point["p50_ms"] <= point["p99_ms"] for point in answered)


async def test_a_compare_run_keeps_each_targets_cdf_and_its_revision(
    make_client: ClientFactory,
) -> None:
    """A compare run against a slower canary keeps both targets' latency at percentiles
    0..100 (the canary's above the primary's) and the payload's checksum as its revision."""
    canary = await CountingServer(lambda n: Reply(delay=0.03)).start()
    primary = await CountingServer(lambda n: Reply()).start()
    try:
        client = await make_client()
        meta = {"type": "load", "url": canary.url, "compare": primary.url, "rate": "20",
                "duration": "2s", "concurrency": "2", "wait": "true"}
        status, body = await post(client, payload(meta, checksum="rev-2"))
        assert status == 200, body
        (run_id,) = await _run_ids(client)
        status, run = await call(client, "GET", f"{PODINFO}/runs/{run_id}")
        assert status == 200, run
    finally:
        await canary.close()
        await primary.close()
    assert run["checksum"] == "rev-2"
    _, document = await call(client, "GET", "/api/v1/openapi.json")
    Draft202012Validator({"$ref": "#/components/schemas/Run",
                          "components": document["components"]}).validate(run)
    cdf = run["series"]["cdf"]
    assert set(cdf) == {"canary", "primary"}
    for values in cdf.values():
        assert len(values) == 101 and values == sorted(values) and values[0] > 0
    assert cdf["canary"][50] >= 30 > cdf["primary"][50]


async def test_every_run_gets_its_own_id(
    target: CountingServer, make_client: ClientFactory
) -> None:
    """Two runs of the same load task are two runs, the last one listed first."""
    client = await make_client()
    body = payload({"type": "load", "url": target.url, "requests": "5", "wait": "true"})
    assert (await post(client, body))[0] == 200
    (first,) = await _run_ids(client)
    assert (await post(client, body))[0] == 200
    ids = await _run_ids(client)
    assert len(ids) == 2 and ids[1] == first


async def test_a_failed_scenario_run_is_kept_with_its_errors(
    target: CountingServer, make_client: ClientFactory
) -> None:
    """A scenario run whose checks fail is kept too: failed, its reason, its errors counted."""
    client = await make_client()
    scenario = (
        "requests:\n"
        f"  - {{name: home, url: '{target.url}', weight: 1}}\n"
        f"  - {{name: orders, url: '{target.url}orders', weight: 1, expect: {{body: 'created'}},"
        " thresholds: {maxErrorRate: 5}}\n"
    )
    meta = {"type": "load", "scenario": scenario, "requests": "20", "concurrency": "2",
            "wait": "true"}
    status, answer = await post(client, payload(meta))
    assert status == 500, answer
    (run_id,) = await _run_ids(client)
    status, run = await call(client, "GET", f"{PODINFO}/runs/{run_id}")
    assert status == 200, run
    assert run["outcome"] == "failed" and run["reason"] == answer
    points = run["series"]["targets"]["canary"]
    assert sum(point["requests"] for point in points) == 20
    assert sum(point["errors"] for point in points) == 10
    assert set(run["summary"]["by_request"]) == {"home", "orders"}


async def test_unknown_run_is_a_json_404(
    target: CountingServer, make_client: ClientFactory
) -> None:
    """An unknown run id, or a run asked of another canary, answers 404 in JSON."""
    client = await make_client()
    assert (await post(client, _load(target.url)))[0] == 200
    (run_id,) = await _run_ids(client)
    status, body = await call(client, "GET", f"{PODINFO}/runs/{'0' * 32}")
    assert status == 404 and "no load run" in body["error"]
    status, body = await call(client, "GET", f"{PODINFO}/runs/{'x' * 500}")
    assert status == 404 and "no load run" in body["error"]
    status, body = await call(client, "GET", f"/api/v1/canaries/test/other/runs/{run_id}")
    assert status == 404 and "no canary" in body["error"]


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    """A token file: an admin for every namespace, a team for `test`, a shop for `shop`."""
    path = tmp_path / "tokens"
    path.write_text(f"* {ADMIN} alice\ntest {TEAM} bob\nshop {SHOP}\n")
    return str(path)


async def test_a_run_needs_a_token_of_its_namespace(
    target: CountingServer, make_client: ClientFactory, token_file: str
) -> None:
    """With -token-file: no token is a 401, another namespace's token a 404, its own a 200."""
    client = await make_client(token_file=token_file)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert await webhook(client, "/gate/check", GATE, admin) == 403
    async with client.post("/", json=_load(target.url), headers=admin) as response:
        assert response.status == 200, await response.text()
    (run_id,) = await _run_ids(client, admin)
    path = f"{PODINFO}/runs/{run_id}"
    status, body = await call(client, "GET", path)
    assert status == 401 and "error" in body
    status, body = await call(client, "GET", path, headers={"Authorization": f"Bearer {SHOP}"})
    assert status == 404
    status, body = await call(client, "GET", path, headers={"Authorization": f"Bearer {TEAM}"})
    assert status == 200 and body["id"] == run_id
