"""Typed keys of everything the application holds.

A leaf module: the value types are named for the type checker only, so that importing a key
(as routes and middlewares do) loads nothing else of the service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from loadtester.activity import Activity
    from loadtester.auth import Authorizer
    from loadtester.auth_failures import FailureThrottle
    from loadtester.events.service import EventService
    from loadtester.filepolicy import FilePolicy
    from loadtester.policy import CommandPolicy
    from loadtester.settings import Settings
    from loadtester.state.base import State
    from loadtester.tasks.runner import TaskRunner

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
AUTHORIZER: web.AppKey[Authorizer] = web.AppKey("authorizer")
POLICY: web.AppKey[CommandPolicy] = web.AppKey("policy")
FILES: web.AppKey[FilePolicy] = web.AppKey("files")
HTTP_CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("http_client")
STATE: web.AppKey[State] = web.AppKey("state")
RUNNER: web.AppKey[TaskRunner] = web.AppKey("runner")
EVENTS: web.AppKey[EventService] = web.AppKey("events")
ACTIVITY: web.AppKey[Activity] = web.AppKey("activity")
AUTH_FAILURES: web.AppKey[FailureThrottle] = web.AppKey("auth_failures")
