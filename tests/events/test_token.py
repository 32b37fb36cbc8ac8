"""POST /events with -token-file: the namespace's token is needed and never forwarded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.events import event

TOKEN = "tok-events-test-0123456789"


async def test_event_needs_token_and_sinks_never_see_it(
    make_client: Any, make_receiver: Any, tmp_path: Path
) -> None:
    """Without the token an event is 401; with it, the sink gets the metadata minus the token."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"test {TOKEN} flagger\n")
    hook = await make_receiver()
    client = await make_client(token_file=str(tokens), event_webhook_url=hook.url + "/hook")
    assert (await client.post("/events", json=event())).status == 401
    response = await client.post("/events", json=event(token=TOKEN, environment="prod"))
    assert response.status == 202
    (delivered,) = await hook.wait_for(1)
    assert delivered.body["metadata"]["environment"] == "prod"
    assert "token" not in delivered.body["metadata"]
    assert TOKEN not in delivered.raw.decode()
