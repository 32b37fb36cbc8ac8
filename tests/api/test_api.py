"""The JSON API without -token-file: canaries from webhooks, bound approvals, cancels, audit."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from loadtester.keys import RUNNER
from tests.support.api import GATE, call, eventually, is_rfc3339, webhook
from tests.support.client import ClientFactory
from tests.support.webhook_sink import WebhookSink

PODINFO = "/api/v1/canaries/test/podinfo"


async def seen_canary(client: Any, path: str = PODINFO) -> dict[str, Any]:
    """The canary's document once the service has recorded it."""

    async def found() -> dict[str, Any] | None:
        status, body = await call(client, "GET", path)
        return body if status == 200 else None

    return await eventually(found)


async def test_canaries_listed_after_webhooks(make_client: ClientFactory) -> None:
    """Gate checks, tasks and events each make their canary appear in the list."""
    sink = WebhookSink()
    try:
        client = await make_client(event_webhook_url=sink.url)
        assert await webhook(client, "/gate/check", GATE) == 403
        other = {"name": "frontend", "namespace": "shop", "phase": "Progressing",
                 "checksum": "f00", "metadata": {"eventMessage": "Advance frontend.shop",
                                                 "eventType": "Normal"}}
        assert await webhook(client, "/events", other) == 202
        bash = {**GATE, "name": "backend", "metadata": {"type": "bash", "cmd": "true"}}
        assert await webhook(client, "/", bash) == 200

        async def all_listed() -> dict[str, Any] | None:
            status, body = await call(client, "GET", "/api/v1/canaries")
            assert status == 200
            ids = {canary["id"]: canary for canary in body["canaries"]}
            return ids if len(ids) == 3 else None

        canaries = await eventually(all_listed)
        podinfo = canaries["podinfo.test"]
        assert (podinfo["name"], podinfo["namespace"], podinfo["phase"], podinfo["checksum"]) == (
            "podinfo", "test", "Progressing", "abc")
        assert all(is_rfc3339(podinfo[key]) for key in ("phaseAt", "firstSeen", "lastSeen"))
        assert podinfo["gate"] == {"open": False, "by": "", "at": None, "checksum": "",
                                   "bound": False}
        backend = await eventually(lambda: _with_tasks(client, "backend"))
        assert backend[0]["type"] == "bash" and backend[0]["outcome"] == "succeeded"
        assert not backend[0]["background"] and backend[0]["load"] is None

        async def delivered() -> list[dict[str, Any]] | None:
            status, body = await call(client, "GET", "/api/v1/events?namespace=shop")
            assert status == 200
            events = body["events"]
            return events if events and events[0]["deliveries"] else None

        (event,) = await eventually(delivered)
        assert (event["name"], event["namespace"], event["phase"]) == (
            "frontend", "shop", "Progressing")
        assert "Advance frontend.shop" in event["message"] and is_rfc3339(event["receivedAt"])
        (delivery,) = event["deliveries"].values()
        assert delivery["state"] in ("pending", "retrying", "delivered")
    finally:
        sink.close()


async def _with_tasks(client: Any, name: str) -> list[dict[str, Any]] | None:
    status, body = await call(client, "GET", f"/api/v1/canaries/test/{name}")
    if status != 200:
        return None
    ended = [task for task in body["tasks"] if task["outcome"] != "running"]
    return ended or None


async def test_unknown_canary_is_a_json_404(make_client: ClientFactory) -> None:
    """A canary never seen is a 404 with a one-line JSON error."""
    client = await make_client()
    status, body = await call(client, "GET", "/api/v1/canaries/test/nobody")
    assert status == 404 and set(body) == {"error"} and "nobody.test" in body["error"]
    status, body = await call(client, "POST", "/api/v1/canaries/test/nobody/gate/open")
    assert status == 404 and "never seen" in body["error"]


async def test_bound_approval_passes_only_its_revision(make_client: ClientFactory) -> None:
    """An approval from the API is bound to the current checksum: another one is refused."""
    client = await make_client()
    assert await webhook(client, "/gate/check", GATE) == 403
    await seen_canary(client)
    status, body = await call(client, "POST", f"{PODINFO}/gate/open")
    assert status == 200
    gate = body["gate"]
    assert (gate["open"], gate["bound"], gate["checksum"]) == (True, True, "abc")
    assert is_rfc3339(gate["at"]) and body["rollback"]["open"] is False
    status, gates = await call(client, "GET", f"{PODINFO}/gates")
    assert status == 200 and gates["approved"] is True and gates["gate"] == gate
    assert await webhook(client, "/gate/check", GATE) == 200
    assert await webhook(client, "/gate/check", {**GATE, "checksum": "next"}) == 403
    status, audit = await call(client, "GET", "/api/v1/audit?namespace=test&name=podinfo")
    assert status == 200
    opened = [entry for entry in audit["entries"] if entry["action"] == "gate-open"]
    assert opened and opened[0]["revision"] == "abc" and opened[0]["who"] == "anonymous"
    assert opened[0]["peer"] == "127.0.0.1" and is_rfc3339(opened[0]["at"])
    status, body = await call(client, "POST", f"{PODINFO}/gate/close")
    assert status == 200 and body["gate"]["open"] is False
    assert await webhook(client, "/gate/check", GATE) == 403


async def test_new_revision_waits_for_its_own_approval(make_client: ClientFactory) -> None:
    """After a new checksum is seen, the old approval no longer counts (approved: false)."""
    client = await make_client()
    assert await webhook(client, "/gate/check", GATE) == 403
    await seen_canary(client)
    assert (await call(client, "POST", f"{PODINFO}/gate/open"))[0] == 200
    assert await webhook(client, "/gate/check", {**GATE, "checksum": "v2"}) == 403

    async def moved_on() -> dict[str, Any] | None:
        canary = await seen_canary(client)
        return canary if canary["checksum"] == "v2" else None

    await eventually(moved_on)
    status, gates = await call(client, "GET", f"{PODINFO}/gates")
    assert status == 200 and gates["gate"]["open"] is True and gates["approved"] is False
    status, body = await call(client, "POST", f"{PODINFO}/gate/open")
    assert status == 200 and body["gate"]["checksum"] == "v2"
    assert await webhook(client, "/gate/check", {**GATE, "checksum": "v2"}) == 200


async def test_explicit_checksum_binds_that_revision(make_client: ClientFactory) -> None:
    """A body checksum binds the approval to it, even for a canary not seen yet."""
    client = await make_client()
    path = "/api/v1/canaries/test/later/gate/open"
    status, body = await call(client, "POST", path, {"checksum": "rev-7"})
    assert status == 200 and body["gate"]["checksum"] == "rev-7" and body["gate"]["bound"]
    payload = {**GATE, "name": "later"}
    assert await webhook(client, "/gate/check", {**payload, "checksum": "rev-7"}) == 200
    assert await webhook(client, "/gate/check", payload) == 403


async def test_plain_gate_open_keeps_go_behaviour(make_client: ClientFactory) -> None:
    """`curl /gate/open` is unbound: every revision passes, as with the Go service."""
    client = await make_client()
    assert await webhook(client, "/gate/open", GATE) == 202
    assert await webhook(client, "/gate/check", {**GATE, "checksum": "other"}) == 200
    await seen_canary(client)
    status, gates = await call(client, "GET", f"{PODINFO}/gates")
    assert status == 200 and gates["gate"]["open"] and gates["gate"]["bound"] is False
    assert gates["approved"] is True


async def test_rollback_from_the_api(make_client: ClientFactory) -> None:
    """Opening and closing the rollback gate drives /rollback/check and is audited."""
    client = await make_client()
    assert await webhook(client, "/rollback/check", GATE) == 403
    await seen_canary(client)
    status, body = await call(client, "POST", f"{PODINFO}/rollback/open")
    assert status == 200 and body["rollback"]["open"] is True and not body["gate"]["open"]
    assert await webhook(client, "/rollback/check", GATE) == 200
    assert (await call(client, "POST", f"{PODINFO}/rollback/close"))[0] == 200
    assert await webhook(client, "/rollback/check", GATE) == 403
    canary = await seen_canary(client)
    actions = [entry["action"] for entry in canary["audit"]]
    assert actions[:2] == ["rollback-close", "rollback-open"]


async def test_cancel_a_running_background_task(make_client: ClientFactory) -> None:
    """`cmd: sleep 30` runs in the background until cancelled from the API; then it is gone."""
    client = await make_client()
    task = {**GATE, "metadata": {"type": "cmd", "cmd": "sleep 30"}}
    assert await webhook(client, "/", task) == 202

    async def running() -> list[dict[str, Any]] | None:
        status, body = await call(client, "GET", "/api/v1/tasks?running=true")
        assert status == 200
        return body["tasks"] or None

    (listed,) = await eventually(running)
    assert listed["type"] == "cmd" and listed["background"] and "sleep 30" in listed["description"]
    cancel = f"/api/v1/tasks/{quote(listed['id'], safe='')}/cancel"
    status, body = await call(client, "POST", cancel)
    assert status == 200 and body["task"]["id"] == listed["id"]
    assert client.server.app[RUNNER].running == []

    async def ended() -> dict[str, Any] | None:
        status, body = await call(client, "GET", "/api/v1/tasks?running=false&namespace=test")
        assert status == 200
        return body["tasks"][0] if body["tasks"] else None

    record = await eventually(ended)
    assert record["outcome"] == "cancelled" and is_rfc3339(record["endedAt"])
    status, body = await call(client, "POST", cancel)
    assert status == 409 and "already ended" in body["error"]
    status, audit = await call(client, "GET", "/api/v1/audit")
    assert [entry["action"] for entry in audit["entries"]] == ["task-cancel"]
    assert listed["id"] in audit["entries"][0]["detail"]


async def test_unknown_task_is_a_404(make_client: ClientFactory) -> None:
    """Cancelling a task id nobody knows answers 404."""
    client = await make_client()
    status, body = await call(client, "POST", "/api/v1/tasks/nothing%2Fhere/cancel")
    assert status == 404 and "nothing/here" in body["error"]


async def test_api_errors_are_json_and_others_stay_text(make_client: ClientFactory) -> None:
    """Bad parameters, unknown paths and methods answer JSON; the Go endpoints plain text."""
    client = await make_client()
    for path in ("/api/v1/tasks?limit=0", "/api/v1/tasks?limit=x", "/api/v1/tasks?running=1",
                 "/api/v1/audit?namespace=Not_A_Namespace", "/api/v1/events?name=",
                 "/api/v1/canaries/BAD/podinfo"):
        status, body = await call(client, "GET", path)
        assert status == 400 and isinstance(body, dict) and body["error"], path
    status, body = await call(client, "GET", "/api/v1/nothing")
    assert status == 404 and "no API endpoint" in body["error"]
    async with client.delete("/api/v1/canaries") as response:
        assert response.status == 405 and response.headers["Allow"] == "GET"
        assert "not allowed" in (await response.json())["error"]
    for body_text, content_type, expected in (("{", "application/json", 400),
                                              ("[]", "application/json", 400),
                                              ('{"checksum": 1}', "application/json", 400),
                                              ('{"checksum": "a b"}', "application/json", 400),
                                              ("{}", "text/plain", 415)):
        async with client.post(f"{PODINFO}/gate/open", data=body_text,
                               headers={"Content-Type": content_type}) as response:
            assert response.status == expected, body_text
            assert "error" in await response.json()
    async with client.post("/gate/check", data="{") as response:
        assert response.status == 400 and response.content_type == "text/plain"


async def test_openapi_document_covers_every_route(make_client: ClientFactory) -> None:
    """/api/v1/openapi.json is OpenAPI 3.1 and documents every API route the app serves."""
    client = await make_client()
    status, document = await call(client, "GET", "/api/v1/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item if method != "parameters"}
    routes = client.server.app.router.routes()
    served = {(route.resource.canonical, route.method) for route in routes
              if route.resource is not None and route.resource.canonical.startswith("/api/v1/")
              and route.method != "*"}
    assert documented == served
