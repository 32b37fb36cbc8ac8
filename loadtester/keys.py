"""Typed keys of everything the application holds."""

from __future__ import annotations

import sqlite3

import aiohttp
from aiohttp import web

from loadtester.auth import NamespaceAuthorizer
from loadtester.events.service import EventService
from loadtester.gates import GateStore
from loadtester.settings import Settings
from loadtester.tasks.runner import TaskRunner

SETTINGS = web.AppKey("settings", Settings)
AUTHORIZER = web.AppKey("authorizer", NamespaceAuthorizer)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
DATABASE = web.AppKey("database", sqlite3.Connection)
GATES = web.AppKey("gates", GateStore)
RUNNER = web.AppKey("runner", TaskRunner)
EVENTS = web.AppKey("events", EventService)
