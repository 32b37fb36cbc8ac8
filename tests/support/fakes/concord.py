"""A fake Concord server: `POST /api/v1/process` and `GET /api/v1/process/<id>`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class StartRequest:
    """What one start request carried."""

    fields: list[tuple[str, str]]
    content_type: str
    authorization: str | None


@dataclass
class FakeConcord:
    """Answers from scripted statuses (the last one repeats) and records every request."""

    statuses: list[str] = field(default_factory=lambda: ["RUNNING", "FINISHED"])
    instance_id: str = "a1b2c3"
    start_status: int = 200
    start_body: str | None = None  # raw body instead of the JSON answer
    poll_status: int = 200
    poll_body: str | None = None
    starts: list[StartRequest] = field(default_factory=list)
    polls: list[tuple[str, str | None]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/process", self._start)
        app.router.add_get("/api/v1/process/{id}", self._status)
        return app

    async def _start(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.starts.append(
            StartRequest(
                [(name, str(value)) for name, value in form.items()],
                request.content_type,
                request.headers.get("Authorization"),
            )
        )
        if self.start_body is not None:
            return web.Response(status=self.start_status, text=self.start_body)
        answer: dict[str, Any] = {"instanceId": self.instance_id, "ok": True}
        return web.json_response(answer, status=self.start_status)

    async def _status(self, request: web.Request) -> web.Response:
        instance = request.match_info["id"]
        self.polls.append((instance, request.headers.get("Authorization")))
        if self.poll_body is not None:
            return web.Response(status=self.poll_status, text=self.poll_body)
        status = self.statuses[min(len(self.polls), len(self.statuses)) - 1]
        return web.json_response(
            {"instanceId": instance, "status": status}, status=self.poll_status
        )
