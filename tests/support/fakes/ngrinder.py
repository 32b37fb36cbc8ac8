"""A fake nGrinder controller: clone_and_start, status and stop of `/perftest/api`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeNGrinder:
    """Answers from scripted statuses (the last one repeats) and records every request."""

    statuses: list[str] = field(default_factory=lambda: ["TESTING", "FINISHED"])
    test_id: int = 42
    start_answer: dict[str, Any] | None = None  # instead of {"id": test_id, ...}
    status_answer: dict[str, Any] | None = None  # instead of the scripted status
    status_errors: int = 0  # the first polls answer 503 with an HTML page
    starts: list[tuple[int, str | None]] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    stops: list[tuple[int, str, str | None]] = field(default_factory=list)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    polled: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/perftest/api/{clone}/clone_and_start", self._clone_and_start)
        app.router.add_get("/perftest/api/{id}/status", self._status)
        app.router.add_put("/perftest/api/{id}", self._stop)
        return app

    async def _clone_and_start(self, request: web.Request) -> web.Response:
        self.starts.append((int(request.match_info["clone"]), request.headers.get("Authorization")))
        answer = self.start_answer or {"id": self.test_id, "status": "READY"}
        return web.json_response(answer)

    async def _status(self, request: web.Request) -> web.Response:
        self.polls.append(int(request.match_info["id"]))
        self.polled.set()
        if len(self.polls) <= self.status_errors:
            return web.Response(status=503, text="<html>busy</html>", content_type="text/html")
        if self.status_answer is not None:
            return web.json_response(self.status_answer)
        answered = len(self.polls) - self.status_errors
        status = self.statuses[min(answered, len(self.statuses)) - 1]
        return web.json_response({"status": [{"id": self.test_id, "status_id": status}]})

    async def _stop(self, request: web.Request) -> web.Response:
        self.stops.append(
            (
                int(request.match_info["id"]),
                request.query.get("action", ""),
                request.headers.get("Authorization"),
            )
        )
        self.stopped.set()
        return web.json_response({"success": True})
