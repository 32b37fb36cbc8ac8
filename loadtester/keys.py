"""Typed keys of everything the application holds."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from loadtester.activity import Activity
from loadtester.auth import Authorizer
from loadtester.auth_failures import FailureThrottle
from loadtester.events.service import EventService
from loadtester.filepolicy import FilePolicy
from loadtester.policy import CommandPolicy
from loadtester.settings import Settings
from loadtester.state.base import State
from loadtester.tasks.runner import TaskRunner

SETTINGS = web.AppKey("settings", Settings)
AUTHORIZER = web.AppKey("authorizer", Authorizer)
POLICY = web.AppKey("policy", CommandPolicy)
FILES = web.AppKey("files", FilePolicy)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
STATE = web.AppKey("state", State)
RUNNER = web.AppKey("runner", TaskRunner)
EVENTS = web.AppKey("events", EventService)
ACTIVITY = web.AppKey("activity", Activity)
AUTH_FAILURES = web.AppKey("auth_failures", FailureThrottle)
