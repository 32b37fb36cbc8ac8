"""Thin HTTP handlers: parse, authorise, hand over, answer."""

from __future__ import annotations

from aiohttp import web

from loadtester.errors import PayloadTooLarge
from loadtester.keys import AUTHORIZER, SETTINGS
from loadtester.models import WebhookPayload, parse_payload

LOG_FIELDS = web.RequestKey("log_fields", dict[str, str])  # the canary, for the log line


async def read_payload(request: web.Request) -> WebhookPayload:
    """The request's webhook payload, checked against the namespace regexp."""
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].max_body_bytes
        raise PayloadTooLarge(f"request body larger than {limit} bytes") from None
    payload = parse_payload(body)
    request[LOG_FIELDS] = payload.log_fields()
    request.app[AUTHORIZER].check(payload)
    return payload
